#include "libmesh/src/client/slurm_driver.hpp"

#include "bootstrap/command.hpp"
#include "bootstrap/tls.hpp"
#include "libmesh/src/client/slurm_spool.hpp"
#include "libmesh/src/core/last_lines.hpp"
#include "mesh/error.hpp"

#include <spdlog/spdlog.h>

#include <dlfcn.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace mesh::slurm::detail {

// -- Slurm's commands ---------------------------------------------------------

caf::expected<std::optional<job_record>> query_job(const std::string& id,
                                                   int cancel_fd) {
  // blocking: on the allocating or releasing thread (slurm_driver.hpp).
  auto res = bootstrap::run_command({"scontrol", "show", "job", "-o", id},
                                    command_limit, cancel_fd);
  if (!res)
    return std::move(res.error());
  if (res->cancelled)
    return make_error(ec::cancelled, "scontrol show job " + id);
  if (!res->ok()) {
    if (is_unknown_job(res->err))
      return std::optional<job_record>{};
    return make_error(ec::allocation_failed, "scontrol show job " + id,
                      res->description);
  }
  auto record = parse_job_record(res->out);
  if (!record)
    return std::move(record.error());
  return std::optional<job_record>{std::move(*record)};
}

caf::error cancel_job(const std::string& id) {
  // blocking: as query_job.
  auto res = bootstrap::run_command({"scancel", id}, command_limit);
  if (!res)
    return std::move(res.error());
  if (!res->ok())
    return make_error(ec::allocation_failed, "scancel " + id,
                      res->description);
  return caf::none;
}

// -- what the nodes run -------------------------------------------------------

namespace {

// The directory of the object holding this code: libmesh.so, or the program
// that linked libmesh statically (the tests).
std::string own_object_dir() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&default_meshd), &info) == 0 ||
      info.dli_fname == nullptr)
    return {};
  std::error_code ec;
  auto path = fs::canonical(info.dli_fname, ec);
  return ec ? std::string{} : path.parent_path().string();
}

std::string own_program_dir() {
  std::error_code ec;
  auto path = fs::canonical("/proc/self/exe", ec);
  return ec ? std::string{} : path.parent_path().string();
}

} // namespace

std::string default_meshd() {
  if (auto* env = std::getenv("MESH_SLURM_MESHD"); env != nullptr && *env)
    return env;
  for (auto dir : {own_object_dir(), own_program_dir()}) {
    if (dir.empty())
      continue;
    for (auto rel : {"meshd", "../bin/meshd", "../../bin/meshd",
                     "../tools/meshd"}) {
      auto candidate = fs::path{dir} / rel;
      if (::access(candidate.c_str(), X_OK) == 0) {
        std::error_code ec;
        auto path = fs::canonical(candidate, ec);
        if (!ec && fs::is_regular_file(path, ec))
          return path.string();
      }
    }
  }
  return "meshd";
}

caf::error write_spool_key(const std::string& spool, const std::string& what,
                           bool& insecure) {
  insecure = tls::process_transport().insecure;
  if (!insecure)
    return tls::write_key_file(spool + "/key");
  spdlog::warn("{}: this process's transport is insecure "
               "(MESH_TRANSPORT_INSECURE): its meshd daemons serve plain TCP; "
               "anyone who reaches their ports can run commands as this user",
               what);
  return caf::none;
}

// -- cancellation -------------------------------------------------------------

cancel_flag::cancel_flag() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
}

cancel_flag::~cancel_flag() {
  if (fd_ >= 0)
    ::close(fd_);
}

void cancel_flag::fire() {
  fired_ = true;
  if (fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof(one));
  }
}

bool cancel_flag::fired() const {
  return fired_;
}

bool cancel_flag::sleep(std::chrono::milliseconds d) const {
  if (fired_)
    return true;
  if (fd_ >= 0) {
    // blocking: poll(2) on the eventfd, on the allocating thread.
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(d.count()));
  } else {
    // blocking: as above, without an eventfd.
    ::usleep(static_cast<useconds_t>(d.count() * 1000));
  }
  return fired_;
}

// -- reports ------------------------------------------------------------------

allocation_status slurm_status(std::string id, std::string state,
                               std::string reason, size_t ready,
                               size_t hosts) {
  allocation_status st;
  st.scheduler = "slurm";
  st.id = std::move(id);
  st.state = std::move(state);
  st.reason = std::move(reason);
  st.hosts_ready = ready;
  st.hosts = hosts;
  return st;
}

std::string output_tail(const std::string& spool) {
  auto lines = last_lines(read_tail(spool + "/job.out"), 5);
  std::string text;
  for (auto& line : lines)
    text += (text.empty() ? "; its output ended with: " : "; ") + line;
  return text;
}

// -- the allocation of a batch job --------------------------------------------

namespace {

class batch_allocation final : public allocation {
public:
  batch_allocation(std::string job_id, std::string spool,
                   allocation_status status,
                   std::vector<std::string> addresses,
                   std::chrono::milliseconds poll_interval)
    : job_id_(std::move(job_id)),
      spool_(std::move(spool)),
      status_(std::move(status)),
      addresses_(std::move(addresses)),
      poll_interval_(poll_interval) {
  }

  allocation_status status() const override {
    return status_;
  }

  std::vector<std::string> addresses() const override {
    return addresses_;
  }

  caf::error release(std::chrono::milliseconds limit) override {
    if (done_)
      return caf::none;
    done_ = true;
    // blocking: host_mesh::shutdown() on the application's thread.
    auto deadline = std::chrono::steady_clock::now() + limit;
    auto interval = std::min(poll_interval_, std::chrono::milliseconds{250});
    bool ended = false;
    while (!ended) {
      auto job = query_job(job_id_);
      if (job && !*job)
        ended = true; // slurmctld forgot it: long over
      else if (job)
        ended = job_phase_of((*job)->state()) != job_phase::running &&
                job_phase_of((*job)->state()) != job_phase::ending;
      if (ended || std::chrono::steady_clock::now() >= deadline)
        break;
      // blocking: the releasing thread waits for the next poll.
      ::usleep(static_cast<useconds_t>(interval.count() * 1000));
    }
    caf::error err;
    if (!ended)
      err = cancel_job(job_id_);
    remove_spool(spool_);
    return err;
  }

  void cancel() override {
    if (done_)
      return;
    done_ = true;
    // blocking: as release(). A failed scancel leaves a job that ends by
    // itself once its daemons see no owner.
    [[maybe_unused]] auto err = cancel_job(job_id_);
    remove_spool(spool_);
  }

  void keep() override {
    done_ = true;
  }

private:
  std::string job_id_;
  std::string spool_;
  allocation_status status_;
  std::vector<std::string> addresses_;
  std::chrono::milliseconds poll_interval_;
  bool done_ = false;
};

} // namespace

std::unique_ptr<allocation>
make_batch_allocation(std::string job_id, std::string spool,
                      allocation_status status,
                      std::vector<std::string> addresses,
                      std::chrono::milliseconds poll_interval) {
  return std::make_unique<batch_allocation>(
    std::move(job_id), std::move(spool), std::move(status),
    std::move(addresses), poll_interval);
}

} // namespace mesh::slurm::detail

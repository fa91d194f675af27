// mesh::slurm::existing_job() and adopt_job_key(): the hosts of a batch job
// whose owner kept it (host_mesh::stop()), for another attach by the same
// process or, after adopt_job_key(), by another one. The job's spool is
// found beside its output (scontrol's StdOut, which job() put there), or
// else under the spool root, by its job_id file.
#include "bootstrap/tls.hpp"
#include "libmesh/src/client/slurm_driver.hpp"
#include "libmesh/src/client/slurm_spool.hpp"
#include "mesh/error.hpp"
#include "mesh/slurm.hpp"

#include <unistd.h>

#include <filesystem>

namespace fs = std::filesystem;

namespace mesh::slurm {

namespace {

using namespace detail;

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

bool holds_job(const std::string& spool, const std::string& id) {
  auto text = read_small_file(spool + "/job_id");
  return text && trimmed(*text) == id;
}

// The spool of job `id`: beside its output, or under `root`.
caf::expected<std::string> find_spool(const job_record& record,
                                      const std::string& id,
                                      const std::string& root) {
  auto out = record.get("StdOut");
  if (!out.empty() && out[0] == '/') {
    auto dir = fs::path{out}.parent_path().string();
    if (holds_job(dir, id))
      return dir;
  }
  std::error_code ec;
  for (auto it = fs::directory_iterator{root, ec};
       !ec && it != fs::directory_iterator{}; it.increment(ec))
    if (it->is_directory(ec) && holds_job(it->path().string(), id))
      return it->path().string();
  return make_error(ec::invalid_argument, "slurm job " + id,
                    "no spool directory of libmesh holds it (looked beside "
                    "its output '" + out + "' and under " + root + ")");
}

// Job `id`'s record if it runs, and its spool.
caf::expected<std::pair<job_record, std::string>>
running_job(const std::string& id, const std::string& root) {
  auto job = query_job(id);
  if (!job)
    return std::move(job.error());
  if (!*job)
    return make_error(ec::allocation_failed, "slurm job " + id,
                      "slurmctld does not know it (it ended)");
  auto& record = **job;
  if (record.state() != "RUNNING")
    return make_error(ec::allocation_failed, "slurm job " + id,
                      "it is " + record.state() + " (reason " +
                        record.reason() + "), not RUNNING");
  auto spool = find_spool(record, id, resolve_spool_root(root));
  if (!spool)
    return std::move(spool.error());
  return std::pair{std::move(record), std::move(*spool)};
}

// The daemons of `spool` hold this process's mesh key (or both run
// insecure): else the attach would fail in the TLS handshake, less clearly.
caf::error check_key(const std::string& name, const std::string& spool) {
  auto path = spool + "/key";
  auto& own = tls::process_transport();
  if (::access(path.c_str(), F_OK) != 0)
    return own.insecure ? caf::none
                        : make_error(ec::invalid_argument, name,
                                     "its daemons run insecure (no mesh "
                                     "key), but this process uses one");
  auto key = tls::read_key_file(path);
  if (!key)
    return std::move(key.error());
  if (own.insecure || *key != own.key)
    return make_error(ec::invalid_argument, name,
                      "its daemons hold another mesh key than this process: "
                      "call mesh::slurm::adopt_job_key() before making the "
                      "actor system");
  return caf::none;
}

class existing_job_allocator final : public allocator {
public:
  existing_job_allocator(std::string id, std::string root)
    : id_(std::move(id)), root_(std::move(root)) {
  }

  std::string scheduler() const override {
    return "slurm";
  }

  caf::expected<std::unique_ptr<allocation>>
  allocate(const allocation_progress& progress) override {
    auto name = "slurm job " + id_;
    if (cancel_.fired())
      return make_error(ec::cancelled, name, "cancelled before attaching");
    // blocking: scontrol and file reads on the allocating thread.
    auto job = running_job(id_, root_);
    if (!job)
      return std::move(job.error());
    auto& [record, spool] = *job;
    if (auto err = check_key(name, spool))
      return err;
    auto count = read_small_file(spool + "/host_count");
    if (!count)
      return std::move(count.error());
    size_t hosts = 0;
    try {
      hosts = std::stoul(trimmed(*count));
    } catch (const std::exception&) {
      return make_error(ec::invalid_argument, name,
                        "malformed " + spool + "/host_count");
    }
    auto addresses = read_addresses(spool, hosts);
    if (!addresses)
      return std::move(addresses.error());
    auto status = slurm_status(id_, record.state(), record.reason(), hosts,
                               hosts);
    if (progress)
      progress(status);
    // Polling is over: release() polls at its own pace.
    return make_batch_allocation(id_, spool, status, std::move(*addresses),
                                 std::chrono::milliseconds{500});
  }

  void cancel() override {
    cancel_.fire();
  }

private:
  std::string id_;
  std::string root_;
  cancel_flag cancel_;
};

} // namespace

std::unique_ptr<allocator> existing_job(std::string job_id,
                                        std::string spool_root) {
  return std::make_unique<existing_job_allocator>(std::move(job_id),
                                                  std::move(spool_root));
}

caf::error adopt_job_key(const std::string& job_id,
                         const std::string& spool_root) {
  // blocking: called before the actor system exists.
  auto job = running_job(job_id, spool_root);
  if (!job)
    return std::move(job.error());
  auto path = job->second + "/key";
  if (::access(path.c_str(), F_OK) != 0)
    return make_error(ec::invalid_argument, "slurm job " + job_id,
                      "it has no mesh key (its daemons run insecure: set "
                      "MESH_TRANSPORT_INSECURE=1 instead)");
  auto key = tls::read_key_file(path);
  if (!key)
    return std::move(key.error());
  tls::transport transport;
  transport.key = std::move(*key);
  return tls::adopt(std::move(transport));
}

} // namespace mesh::slurm

// mesh::slurm::in_allocation(): hosts inside the allocation this process
// runs in (salloc, or a batch script that runs the client), started as a
// job step with `srun --overlap` that is a child of this process. Nothing is
// submitted: the allocation, its partition and its time limit are the
// user's. The step's srun is the allocation's handle: release() waits for
// it to end (the daemons were shut down), cancel() sends it SIGTERM, which
// srun forwards to the daemons.
#include "bootstrap/command.hpp"
#include "libmesh/src/client/slurm_driver.hpp"
#include "libmesh/src/client/slurm_spool.hpp"
#include "libmesh/src/core/slurm_hostlist.hpp"
#include "libmesh/src/core/slurm_submit.hpp"
#include "mesh/error.hpp"
#include "mesh/slurm.hpp"

#include <signal.h>

#include <cstdlib>

namespace mesh::slurm {

namespace {

using clock = std::chrono::steady_clock;
using namespace detail;
using bootstrap::command_process;

/// How long srun gets to end its step after SIGTERM before it is killed.
constexpr std::chrono::milliseconds srun_term_grace{10000};

// Ends srun: SIGTERM (forwarded to the daemons), then SIGKILL after the
// grace, and reaps it.
void end_step(command_process& srun) {
  // blocking: on the thread of allocate(), release() or cancel().
  if (!srun.poll_exit()) {
    srun.signal(SIGTERM);
    if (!srun.wait(srun_term_grace))
      srun.kill();
  }
  srun.kill(); // reaps it if not yet
}

class step_allocation final : public allocation {
public:
  step_allocation(command_process srun, std::string spool,
                  allocation_status status, std::vector<std::string> addresses)
    : srun_(std::move(srun)),
      spool_(std::move(spool)),
      status_(std::move(status)),
      addresses_(std::move(addresses)) {
  }

  ~step_allocation() override {
    // Neither released nor cancelled nor kept (the owner vanished without
    // a word): like a dead client, leave the daemons to their owner
    // timeout rather than kill them from a destructor.
    if (!done_)
      srun_.detach();
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
    if (!srun_.wait(limit))
      end_step(srun_);
    srun_.kill();
    remove_spool(spool_);
    return caf::none;
  }

  void cancel() override {
    if (done_)
      return;
    done_ = true;
    end_step(srun_);
    remove_spool(spool_);
  }

  void keep() override {
    if (done_)
      return;
    done_ = true;
    srun_.detach();
  }

private:
  command_process srun_;
  std::string spool_;
  allocation_status status_;
  std::vector<std::string> addresses_;
  bool done_ = false;
};

class step_allocator final : public allocator {
public:
  explicit step_allocator(job_options opts) : opts_(std::move(opts)) {
  }

  std::string scheduler() const override {
    return "slurm";
  }

  caf::expected<std::unique_ptr<allocation>>
  allocate(const allocation_progress& progress) override {
    if (cancel_.fired())
      return make_error(ec::cancelled, "slurm allocation",
                        "cancelled before its hosts were started");
    auto* id_env = std::getenv("SLURM_JOB_ID");
    auto* nodes_env = std::getenv("SLURM_JOB_NODELIST");
    if (id_env == nullptr || *id_env == '\0' || nodes_env == nullptr)
      return make_error(ec::invalid_argument, "slurm in_allocation",
                        "this process runs in no Slurm allocation "
                        "(SLURM_JOB_ID and SLURM_JOB_NODELIST are not set)");
    std::string id = id_env;
    auto nodes = expand_hostlist(nodes_env);
    if (!nodes)
      return make_error(ec::invalid_argument, "slurm allocation " + id,
                        "SLURM_JOB_NODELIST",
                        mesh::to_string(nodes.error()));
    auto opts = opts_;
    if (opts.nodes == 0)
      opts.nodes = nodes->size();
    if (opts.nodes > nodes->size())
      return make_error(ec::invalid_argument, "slurm allocation " + id,
                        "asked for " + std::to_string(opts.nodes) +
                          " nodes, but it has " +
                          std::to_string(nodes->size()) + " (" + nodes_env +
                          ")");
    auto meshd = opts.meshd.empty() ? default_meshd() : opts.meshd;
    auto spool = make_spool(resolve_spool_root(opts.spool_root),
                            opts.job_name);
    if (!spool)
      return std::move(spool.error());
    auto result = start_and_wait(opts, id, *spool, meshd, progress);
    if (!result)
      remove_spool(*spool);
    return result;
  }

  void cancel() override {
    cancel_.fire();
  }

private:
  caf::expected<std::unique_ptr<allocation>>
  start_and_wait(const job_options& opts, const std::string& id,
                 const std::string& spool, const std::string& meshd,
                 const allocation_progress& progress) {
    bool insecure = false;
    if (auto err = write_spool_key(spool, "slurm allocation " + id, insecure))
      return err;
    auto launch = make_host_launch(opts, spool, meshd, insecure);
    if (!launch)
      return std::move(launch.error());
    auto hosts = launch->nodes * launch->hosts_per_node;
    if (auto err = write_new_file(spool + "/host_count",
                                  std::to_string(hosts) + "\n", 0600))
      return err;
    // No parent-death signal: a client that dies leaves srun to end with
    // its daemons (owner timeout), as a batch job would.
    auto srun = command_process::start(overlap_srun_argv(id, *launch), {},
                                       false);
    if (!srun)
      return std::move(srun.error());
    auto name = "slurm allocation " + id;
    auto start = clock::now();
    allocation_status last;
    bool reported = false;
    for (;;) {
      auto fail = [&](caf::error err) {
        end_step(*srun);
        return err;
      };
      if (cancel_.fired())
        return fail(make_error(ec::cancelled, name,
                               "cancelled with " +
                                 std::to_string(last.hosts_ready) + " of " +
                                 std::to_string(hosts) + " hosts up"));
      if (opts.start_timeout.count() > 0 &&
          clock::now() - start >= opts.start_timeout)
        return fail(make_error(ec::allocation_failed, name,
                               "its hosts were not up within " +
                                 std::to_string(opts.start_timeout.count()) +
                                 " ms: " + std::to_string(last.hosts_ready) +
                                 " of " + std::to_string(hosts) +
                                 " were"));
      if (srun->poll_exit())
        return make_error(ec::allocation_failed, name,
                          "the step ended before its hosts were up: " +
                            srun->describe() + output_tail(spool));
      auto ready = hosts_ready(spool, hosts);
      auto now = slurm_status(id, "RUNNING", "None", ready, hosts);
      if (!reported || now != last) {
        last = now;
        reported = true;
        if (progress)
          progress(now);
      }
      if (ready == hosts) {
        auto addresses = read_addresses(spool, hosts);
        if (!addresses)
          return fail(std::move(addresses.error()));
        return std::make_unique<step_allocation>(std::move(*srun), spool, last,
                                                 std::move(*addresses));
      }
      // blocking: waits for srun's end or output, the poll interval, or
      // cancel(), whichever comes first.
      srun->wait(opts.poll_interval, cancel_.fd());
    }
  }

  job_options opts_;
  cancel_flag cancel_;
};

} // namespace

std::unique_ptr<allocator> in_allocation(job_options opts) {
  return std::make_unique<step_allocator>(std::move(opts));
}

} // namespace mesh::slurm

// mesh::slurm::job(): hosts from a batch job that the client submits
// (mesh/slurm.hpp). The steps: a spool directory with the mesh key and the
// batch script (core/slurm_submit), sbatch, then `scontrol show job` every
// poll interval (core/slurm_record) until every meshd wrote its address into
// the spool, reporting Slurm's state and reason on every change.
#include "bootstrap/command.hpp"
#include "libmesh/src/client/slurm_driver.hpp"
#include "libmesh/src/client/slurm_spool.hpp"
#include "libmesh/src/core/slurm_submit.hpp"
#include "mesh/error.hpp"
#include "mesh/slurm.hpp"

namespace mesh::slurm {

namespace {

using clock = std::chrono::steady_clock;
using namespace detail;

std::string seconds_text(std::chrono::milliseconds d) {
  return std::to_string((d.count() + 999) / 1000) + " s";
}

class batch_allocator final : public allocator {
public:
  explicit batch_allocator(job_options opts) : opts_(std::move(opts)) {
  }

  std::string scheduler() const override {
    return "slurm";
  }

  caf::expected<std::unique_ptr<allocation>>
  allocate(const allocation_progress& progress) override {
    if (cancel_.fired())
      return make_error(ec::cancelled, "slurm job",
                        "cancelled before it was submitted");
    auto meshd = opts_.meshd.empty() ? default_meshd() : opts_.meshd;
    auto spool = make_spool(resolve_spool_root(opts_.spool_root),
                            opts_.job_name);
    if (!spool)
      return std::move(spool.error());
    auto result = submit_and_wait(*spool, meshd, progress);
    if (!result)
      remove_spool(*spool);
    return result;
  }

  void cancel() override {
    cancel_.fire();
  }

private:
  caf::expected<std::unique_ptr<allocation>>
  submit_and_wait(const std::string& spool, const std::string& meshd,
                  const allocation_progress& progress) {
    bool insecure = false;
    if (auto err = write_spool_key(spool, "slurm job", insecure))
      return err;
    auto launch = make_host_launch(opts_, spool, meshd, insecure);
    if (!launch)
      return std::move(launch.error());
    auto script = spool + "/job.sh";
    auto hosts = launch->nodes * launch->hosts_per_node;
    if (auto err = write_new_file(script, batch_script(*launch), 0700))
      return err;
    if (auto err = write_new_file(spool + "/host_count",
                                  std::to_string(hosts) + "\n", 0600))
      return err;
    if (cancel_.fired())
      return make_error(ec::cancelled, "slurm job",
                        "cancelled before it was submitted");
    // blocking: sbatch on the allocating thread. Not cut short by cancel():
    // an sbatch killed after slurmctld took the job would leave a job that
    // nobody knows the id of.
    auto submitted = bootstrap::run_command(sbatch_argv(opts_, *launch, script),
                                            sbatch_limit);
    if (!submitted)
      return std::move(submitted.error());
    if (!submitted->ok())
      return make_error(ec::allocation_failed, "sbatch refused the job",
                        submitted->description);
    auto id = parse_sbatch_id(submitted->out);
    if (!id)
      return make_error(ec::allocation_failed, "sbatch",
                        mesh::to_string(id.error()));
    auto waited = wait_for_hosts(*id, spool, hosts, progress);
    if (!waited) {
      // Whatever was submitted goes; the error already says why.
      [[maybe_unused]] auto err = cancel_job(*id);
      return std::move(waited.error());
    }
    return waited;
  }

  caf::expected<std::unique_ptr<allocation>>
  wait_for_hosts(const std::string& id, const std::string& spool,
                 size_t hosts, const allocation_progress& progress) {
    if (auto err = write_new_file(spool + "/job_id", id + "\n", 0600))
      return err;
    auto name = "slurm job " + id;
    auto start = clock::now();
    auto last_answer = start;
    allocation_status last;
    bool reported = false;
    for (;;) {
      if (cancel_.fired())
        return make_error(ec::cancelled, name,
                          "cancelled while " + describe(last));
      if (opts_.start_timeout.count() > 0 &&
          clock::now() - start >= opts_.start_timeout)
        return make_error(ec::allocation_failed, name,
                          "its hosts were not up within " +
                            seconds_text(opts_.start_timeout) + ": " +
                            describe(last));
      auto job = query_job(id, cancel_.fd());
      if (!job) {
        if (is(job.error(), ec::cancelled))
          continue;
        // slurmctld may be busy or restarting: try again, within a bound.
        if (clock::now() - last_answer >= query_failure_limit)
          return make_error(ec::allocation_failed, name,
                            "no answer from slurmctld for " +
                              seconds_text(query_failure_limit),
                            mesh::to_string(job.error()));
      } else if (!*job) {
        return make_error(ec::allocation_failed, name,
                          "it ended before its hosts were up: slurmctld no "
                          "longer knows it" +
                            output_tail(spool));
      } else {
        last_answer = clock::now();
        auto& record = **job;
        auto state = record.state();
        auto phase = job_phase_of(state);
        if (phase == job_phase::ended)
          return make_error(ec::allocation_failed, name,
                            "it ended before its hosts were up: " + state +
                              " (reason " + record.reason() + ")" +
                              output_tail(spool));
        auto ready = phase == job_phase::running ? hosts_ready(spool, hosts)
                                                 : size_t{0};
        auto now = slurm_status(id, state, record.reason(), ready, hosts);
        if (!reported || now != last) {
          last = now;
          reported = true;
          if (progress)
            progress(now);
        }
        if (phase == job_phase::running && ready == hosts) {
          auto addresses = read_addresses(spool, hosts);
          if (!addresses)
            return std::move(addresses.error());
          return make_batch_allocation(id, spool, last, std::move(*addresses),
                                       opts_.poll_interval);
        }
      }
      cancel_.sleep(opts_.poll_interval);
    }
  }

  static std::string describe(const allocation_status& st) {
    if (st.state.empty())
      return "before Slurm reported its state";
    auto text = st.state;
    if (!st.reason.empty())
      text += " (reason " + st.reason + ")";
    if (st.state == "RUNNING")
      text += " with " + std::to_string(st.hosts_ready) + " of " +
              std::to_string(st.hosts) + " hosts up";
    return text;
  }

  job_options opts_;
  cancel_flag cancel_;
};

} // namespace

std::unique_ptr<allocator> job(job_options opts) {
  return std::make_unique<batch_allocator>(std::move(opts));
}

} // namespace mesh::slurm

// What Slurm says about a job: the one-line record of `scontrol show job -o
// ID` and the meaning of its JobState for an allocator (mesh/slurm.hpp).
//
// The record is "Key=Value" fields separated by spaces. Slurm does not quote
// values, and a few hold spaces (Command, WorkDir, StdOut, JobName, Comment
// may hold any text), so a value runs up to the next space that is followed
// by a word of key characters and '=' ([A-Za-z][A-Za-z0-9_:/]*=, as in
// "AllocNode:Sid=" or "CPUs/Task="). A value that itself holds " Word=" is
// cut there, as Slurm's own readers would cut it; the fields an allocator
// reads (JobId, JobState, Reason, NodeList, NumTasks, StdOut of a spool path
// libmesh chose) never do.
//
// Contracts:
// * parse_job_record never throws: text that is not a record (no field, a
//   first word without '=', no JobId or JobState) is ec::parse_error quoting
//   a bounded piece of it.
// * Keys and values come out without surrounding blanks, in the order of
//   the line; render_job_record(parse(x)) parses back to the same fields.
// * job_phase_of is total: a state it does not know is `waiting` (Slurm adds
//   states; a new one must not fail a job that may still start).
#pragma once

#include <caf/expected.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mesh::slurm {

/// One job's record, as `scontrol show job -o` prints it.
struct job_record {
  /// Every field, in the order of the line.
  std::vector<std::pair<std::string, std::string>> fields;

  /// The first field named `key`, or nullptr.
  const std::string* find(std::string_view key) const;
  /// The first field named `key`, or "" if there is none.
  std::string get(std::string_view key) const;

  std::string job_id() const { return get("JobId"); }
  /// The state's word: JobState without anything Slurm appends to it.
  std::string state() const;
  /// Slurm's reason for the state ("None", "Priority", "Resources"...).
  std::string reason() const { return get("Reason"); }
};

/// Parses the first line of `text` (scontrol's output for one job).
caf::expected<job_record> parse_job_record(std::string_view text);

/// The fields as one line, "Key=Value" joined by spaces.
std::string render_job_record(const job_record& record);

/// What a job's state means to an allocator waiting for its hosts.
enum class job_phase {
  /// Not started yet, or held: PENDING, CONFIGURING, REQUEUED, SUSPENDED,
  /// any state this code does not know.
  waiting,
  /// RUNNING: the batch script runs.
  running,
  /// COMPLETING, SIGNALING, STAGE_OUT: its processes are being ended.
  ending,
  /// It ended for good: COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL,
  /// BOOT_FAIL, DEADLINE, OUT_OF_MEMORY, PREEMPTED, REVOKED, SPECIAL_EXIT.
  ended,
};

/// The phase of a JobState word (job_record::state()).
job_phase job_phase_of(std::string_view state);

/// True if scontrol's error output says the job is unknown to slurmctld
/// (it ended more than MinJobAge ago, or never existed).
bool is_unknown_job(std::string_view scontrol_stderr);

} // namespace mesh::slurm

#include "mesh/config_keys.hpp"

namespace mesh::keys {

using namespace std::chrono_literals;

// Propagated keys travel with every spawn and attach; TLS paths name files on
// one machine and stay process-local.
const config_key<duration> proc_spawn_max_idle{
  "proc_spawn_max_idle", 30s, true,
  "spawn barrier: longest time with no progress from any host"};
const config_key<duration> proc_stop_max_idle{
  "proc_stop_max_idle", 30s, true,
  "stop barrier: longest time with no progress from any host"};
const config_key<duration> host_spawn_ready_timeout{
  "host_spawn_ready_timeout", 30s, true,
  "one child's bootstrap handshake (0 = wait forever)"};
const config_key<duration> attach_config_timeout{
  "attach_config_timeout", 60s, true, "attach config-push barrier"};
const config_key<duration> terminate_timeout{
  "terminate_timeout", 10s, true,
  "grace between polite stop, SIGTERM and SIGKILL"};
const config_key<int64_t> terminate_concurrency{
  "terminate_concurrency", 16, true, "children terminated at once per host"};
const config_key<bool> bootstrap_enable_pdeathsig{
  "bootstrap_enable_pdeathsig", true, true, "children die with their parent"};
const config_key<bool> bootstrap_zygote{
  "bootstrap_zygote", true, true,
  "fork procs from a per-host zygote of their bootstrap command"};
const config_key<int64_t> tail_log_lines{
  "tail_log_lines", 100, true, "stderr lines kept per proc for error reports"};
const config_key<bool> log_forwarding{
  "log_forwarding", true, true,
  "child stdout/stderr forwarded to the client, prefixed [host/rank]"};
const config_key<duration> call_timeout{
  "call_timeout", 30s, true,
  "deadline of one actor mesh call or spawn, per member"};
const config_key<std::string> listen_address{
  "listen_address", std::string{"127.0.0.1"}, true,
  "where host agents and procs listen"};
const config_key<std::string> tls_certificate{
  "tls.certificate", std::string{}, false,
  "mutual TLS certificate (PEM file)"};
const config_key<std::string> tls_key{"tls.key", std::string{}, false,
                                      "mutual TLS private key (PEM file)"};
const config_key<std::string> tls_cafile{
  "tls.cafile", std::string{}, false, "mutual TLS CA bundle (PEM file)"};

} // namespace mesh::keys

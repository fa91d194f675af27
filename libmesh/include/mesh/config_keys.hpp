// The configuration keys of libmesh (architecture §6). Each key's environment
// variable is MESH_<NAME> (dots become '_'), its YAML key is its name.
//
// Each key is defined (name, default, propagate flag, one line of doc) beside
// the code that reads it, in the lowest layer that reads it, and registers
// itself during static initialization; test/config_test.cpp checks that every
// key declared here is registered and that every registered key is read.
#pragma once

#include "mesh/export.hpp"

#include "mesh/config.hpp"

MESH_PUBLIC_BEGIN

namespace mesh::keys {

/// Spawn barrier: longest time with no progress from any host.
extern const config_key<duration> proc_spawn_max_idle;
/// Stop barrier: longest time with no progress while stopping procs.
extern const config_key<duration> proc_stop_max_idle;
/// One child's bootstrap handshake; 0 waits forever.
extern const config_key<duration> host_spawn_ready_timeout;
/// Attach config-push barrier (HM-3).
extern const config_key<duration> attach_config_timeout;
/// Grace between a polite stop, SIGTERM and SIGKILL.
extern const config_key<duration> terminate_timeout;
/// Children terminated at once per host.
extern const config_key<int64_t> terminate_concurrency;
/// Children die with their parent (PR_SET_PDEATHSIG).
extern const config_key<bool> bootstrap_enable_pdeathsig;
/// Procs are forked from a per-host zygote of their bootstrap command instead
/// of exec'd one by one (needs bootstrap_enable_pdeathsig).
extern const config_key<bool> bootstrap_zygote;
/// Stderr lines kept per proc for error reports.
extern const config_key<int64_t> tail_log_lines;
/// Child stdout/stderr forwarded to the client, prefixed [host/rank].
extern const config_key<bool> log_forwarding;
/// Per-call deadline of actor mesh calls and spawns; a member that has not
/// answered by then fails the call.
extern const config_key<duration> call_timeout;
/// A peer (proc, host, meshd, client) that sends nothing, not even a
/// heartbeat, for this long is cut off and reported failed ("unresponsive");
/// 0 turns heartbeats off. Read when an actor system starts: by configure()
/// (client, meshd) and by a child from its parent's snapshot. Peers send a
/// heartbeat every min(1 s, timeout / 4).
extern const config_key<duration> proc_unresponsive_timeout;
/// Where host agents and procs listen.
extern const config_key<std::string> listen_address;
/// The owner's admin endpoint (docs/admin-api.md), "host:port": port 0
/// takes a free one, empty turns it off. Default "127.0.0.1:0" (loopback).
/// Process-local: never propagated.
extern const config_key<std::string> admin_address;
/// Mutual TLS certificate (PEM). Process-local: never propagated.
extern const config_key<std::string> tls_certificate;
/// Mutual TLS private key (PEM). Process-local: never propagated.
extern const config_key<std::string> tls_key;
/// Mutual TLS CA bundle (PEM). Process-local: never propagated.
extern const config_key<std::string> tls_cafile;
/// Plain TCP without authentication (MESH_TRANSPORT_INSECURE=1): anyone who
/// can reach a port can run commands. Read from the environment of the first
/// process of a mesh only; its children follow it. Benchmarks and trusted
/// networks only; it warns at every start.
extern const config_key<bool> transport_insecure;
/// Largest message (bytes) a peer may announce; a connection whose peer
/// announces more is closed before the memory is allocated (over TLS).
extern const config_key<int64_t> transport_max_message_size;

} // namespace mesh::keys

MESH_PUBLIC_END

// Writes the seed corpora of the fuzz targets that take encoder output:
// real payloads, zygote frames, extents, regions, ids and line streams,
// each made by libmesh's own encoders (to_string, encode, zygote::send).
//
//   build-fuzz/fuzz/make_corpus fuzz/corpus
//
// It writes <dir>/<target>/<name> for payload, zygote_protocol, extent,
// region, id and line_framer; the mesh_file seeds are the YAML files of
// config/ and test/data/mesh_files/ (copied by hand, see fuzz/README.md).
// Run it only to refresh the committed corpora; scripts/fuzz.sh does not.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bootstrap/payload.hpp"
#include "bootstrap/zygote_protocol.hpp"
#include "mesh/extent.hpp"
#include "mesh/id.hpp"
#include "mesh/region.hpp"

namespace fs = std::filesystem;
using namespace mesh;

namespace {

fs::path root;

void write(const std::string& target, const std::string& name,
           const std::string& bytes) {
  auto dir = root / target;
  fs::create_directories(dir);
  std::ofstream out{dir / name, std::ios::binary};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

template <class T>
T value_of(caf::expected<T> x) {
  if (!x) {
    std::fprintf(stderr, "make_corpus: %s\n", mesh::to_string(x.error()).c_str());
    std::exit(1);
  }
  return std::move(*x);
}

void payloads() {
  using namespace mesh::bootstrap;
  payload proc;
  proc.child_role = role::proc;
  proc.name = "trainers-3";
  proc.parent_host = "127.0.0.1";
  proc.parent_port = 4100;
  proc.token = "0123456789abcdef0123456789abcdef";
  proc.config = {{"proc_spawn_max_idle", "30s"}, {"tail_log_lines", "100"}};
  proc.mesh_key = std::string(mesh_key_size, '\x5a');
  proc.proc_env = {{"MESH_POINT", "hosts=0/1,gpus=3/4"}, {"RANK", "3"}};

  payload host = proc;
  host.proc_env.clear();
  host.child_role = role::host;
  host.name = "host-1";
  bootstrap_command cmd;
  cmd.program = "/usr/bin/worker";
  cmd.arg0 = "worker";
  cmd.args = {"--verbose", "a b", ""};
  cmd.env = {{"A", "1"}, {"EMPTY", ""}, {"PATH", "/usr/bin:/bin"}};
  host.proc_command = cmd;

  payload bare = proc;
  bare.config.clear();
  bare.parent_host = "::1";
  bare.parent_port = 65535;

  payload zygote = proc;
  zygote.child_role = role::zygote;
  zygote.name = "zygote";
  zygote.proc_env.clear();

  payload host_no_arg0 = host;
  host_no_arg0.proc_command->arg0.reset();
  host_no_arg0.proc_command->env.clear();
  host_no_arg0.insecure = true;
  host_no_arg0.mesh_key.clear();

  for (auto& [name, p] : {std::pair{"proc", proc}, std::pair{"host", host},
                          std::pair{"bare", bare}, std::pair{"zygote", zygote},
                          std::pair{"host_no_arg0", host_no_arg0}}) {
    write("payload", std::string{name} + ".record", encode_record(p));
    write("payload", std::string{name} + ".b64", encode(p));
  }
}

// The datagram zygote::send puts on the wire for `msg`.
std::string frame(const bootstrap::zygote::message& msg) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0 ||
      bootstrap::zygote::send(sv[0], msg) != 0) {
    std::perror("make_corpus: zygote frame");
    std::exit(1);
  }
  std::string buf(128 * 1024, '\0');
  char control[256];
  iovec iov{buf.data(), buf.size()};
  msghdr hdr{};
  hdr.msg_iov = &iov;
  hdr.msg_iovlen = 1;
  hdr.msg_control = control;
  hdr.msg_controllen = sizeof(control);
  auto n = ::recvmsg(sv[1], &hdr, MSG_CMSG_CLOEXEC);
  if (n < 0) {
    std::perror("make_corpus: recvmsg");
    std::exit(1);
  }
  buf.resize(static_cast<size_t>(n));
  ::close(sv[0]);
  ::close(sv[1]);
  return buf;
}

void zygote_frames() {
  namespace z = bootstrap::zygote;
  using z::make_message;
  using z::op;
  // The target's first byte: the number of descriptors to pass.
  auto seed = [](const char* name, const z::message& msg, char fds) {
    write("zygote_protocol", name, std::string(1, fds) + frame(msg));
  };
  seed("ready", make_message(op::ready), 0);
  seed("spawn", make_message(op::spawn, 0, "TUVTSAI="), 3);
  seed("spawned", make_message(op::spawned, 4242), 0);
  seed("spawn_failed",
       make_message(op::spawn_failed, 0, "fork failed: out of memory"), 0);
  auto exited = make_message(op::exited, 4242);
  exited.a = -1;
  exited.b = 9;
  seed("exited", exited, 0);
  seed("reap", make_message(op::reap, 4242), 0);
  seed("reaped", make_message(op::reaped, 4242), 0);
}

void shapes() {
  std::vector<extent> extents{
    extent{},
    extent{{"hosts", 2}, {"gpus", 4}},
    extent{{"replica", 3}},
    extent{{"a b", 2}, {"q\"uote\\", 1}, {"0", 0}},
  };
  for (size_t i = 0; i < extents.size(); ++i) {
    write("extent", "extent" + std::to_string(i), extents[i].to_string());
    auto& e = extents[i];
    if (e.num_ranks() > 0)
      write("extent", "point" + std::to_string(i),
            value_of(e.point_of_rank(e.num_ranks() - 1)).to_string());
  }

  region dense{extent{{"replica", 2}, {"host", 4}}};
  std::vector<region> regions{
    region{},
    dense,
    value_of(dense.range("host", 1, 4, 2)),
    value_of(value_of(dense.range("replica", 1)).range("host", 0, 2)),
    value_of(region::make({"0", "x y"}, 7, {2, 3}, {1, 2})),
  };
  for (size_t i = 0; i < regions.size(); ++i)
    write("region", "region" + std::to_string(i), regions[i].to_string());
}

void ids() {
  std::vector<std::string> texts{
    value_of(proc_mesh_id::make_singleton("trainers")).to_string(),
    proc_mesh_id::from_uid(0).to_string(),
    proc_mesh_id::from_uid(123456789, "workers").to_string(),
    host_mesh_id::from_uid(~uint64_t{0}).to_string(),
    actor_mesh_id::from_uid(58, "echo_actors").to_string(),
    proc_name(proc_mesh_id::from_uid(99, "workers"), 3),
    proc_name(value_of(proc_mesh_id::make_singleton("test")), 12),
    base58_encode(~uint64_t{0}),
  };
  for (size_t i = 0; i < texts.size(); ++i)
    write("id", "id" + std::to_string(i), texts[i]);
}

void line_streams() {
  // Bytes 0 and 1: max_line (byte % 16 + 1) and the chunking seed.
  write("line_framer", "lines", std::string{"\x03\x01"} + "one\ntwo\n\nthree");
  write("line_framer", "long",
        std::string{"\x07\x02"} + std::string(40, 'x') + "\n" +
          std::string(8, 'y') + "\r\n");
  write("line_framer", "unterminated", std::string{"\xf1\x05"} + "no newline");
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  payloads();
  zygote_frames();
  shapes();
  ids();
  line_streams();
  return 0;
}

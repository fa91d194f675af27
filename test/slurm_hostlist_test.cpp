// mesh::slurm::expand_hostlist: Slurm's compressed host lists
// (SLURM_JOB_NODELIST), checked against Slurm's own `scontrol show
// hostnames` where it is installed, and malformed lists.
#include "libmesh/src/core/slurm_hostlist.hpp"
#include "mesh/error.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using mesh::ec;
using mesh::slurm::expand_hostlist;
using mesh::slurm::max_hostlist_names;
using names = std::vector<std::string>;

namespace {

names expand(std::string_view text) {
  auto result = expand_hostlist(text);
  REQUIRE_MESSAGE(result, "cannot expand '", std::string{text},
                  "': ", mesh::to_string(result.error()));
  return *result;
}

// The rendered error of a list that must not expand.
std::string failure(std::string_view text) {
  INFO("input: ", std::string{text});
  auto result = expand_hostlist(text);
  REQUIRE_FALSE(result);
  CHECK(mesh::is(result.error(), ec::parse_error));
  return mesh::to_string(result.error());
}

// `scontrol show hostnames`, which needs a slurm.conf but no daemon: a
// minimal one in a temporary directory. Empty if scontrol is missing.
class scontrol {
public:
  scontrol() {
    char tmpl[] = "/tmp/libmesh-hostlist-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    std::ofstream{dir_ + "/slurm.conf"}
      << "ClusterName=hostlist\nSlurmctldHost=localhost\n"
         "NodeName=localhost CPUs=1\nPartitionName=p Nodes=ALL\n";
  }

  ~scontrol() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Why it cannot run here ("" if it can).
  std::string unavailable() const {
    auto probe = run("n[1-2]");
    if (probe.exit_code == 0 && probe.out == "n1\nn2\n")
      return "";
    return "scontrol show hostnames does not work here (exit " +
           std::to_string(probe.exit_code.value_or(-1)) + "): " + probe.err;
  }

  mesh::test::run_result run(const std::string& list) const {
    return mesh::test::run({"scontrol", "show", "hostnames", list},
                           std::chrono::seconds{20},
                           {{"SLURM_CONF", dir_ + "/slurm.conf"}});
  }

  // What Slurm makes of `list`; "Invalid hostlist" for what it rejects.
  names hostnames(const std::string& list) const {
    auto res = run(list);
    REQUIRE_MESSAGE(res.exit_code == 0, "scontrol failed: ", res.err);
    if (mesh::test::contains(res.out + res.err, "Invalid hostlist"))
      return {"Invalid hostlist"};
    return mesh::test::lines_of(res.out);
  }

private:
  std::string dir_;
};

} // namespace

TEST_CASE("single names, and comma lists in the order written") {
  CHECK(expand("vm") == names{"vm"});
  CHECK(expand("login1,node-a.cluster.org,b_2") ==
        names{"login1", "node-a.cluster.org", "b_2"});
  CHECK(expand("b,a,b") == names{"b", "a", "b"});
}

TEST_CASE("bracket ranges: lists, zero padding from the lower bound") {
  CHECK(expand("node[01-03,7]") ==
        names{"node01", "node02", "node03", "node7"});
  CHECK(expand("n[8-11]") == names{"n8", "n9", "n10", "n11"});
  CHECK(expand("n[008-010]") == names{"n008", "n009", "n010"});
  CHECK(expand("n[98-101]") == names{"n98", "n99", "n100", "n101"});
  // The width is LO's: a padded upper bound pads nothing.
  CHECK(expand("n[1-010]").size() == 10);
  CHECK(expand("n[1-010]")[9] == "n10");
  CHECK(expand("n[0007]") == names{"n0007"});
  CHECK(expand("[1-3]") == names{"1", "2", "3"});
  CHECK(expand("n[3,1,3]") == names{"n3", "n1", "n3"});
  CHECK(expand("n[18446744073709551615]") == names{"n18446744073709551615"});
  CHECK(expand("a[1-2],b,c[5]") == names{"a1", "a2", "b", "c5"});
}

TEST_CASE("several groups in one name: cartesian, in Slurm's order") {
  CHECK(expand("rack[1-2]-n[1-2]") ==
        names{"rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"});
  CHECK(expand("x[1-2][3-4]") == names{"x13", "x14", "x23", "x24"});
  // The last group fastest, then the first, then the second.
  CHECK(expand("c[0-1]r[0-2]n[0-1]") ==
        names{"c0r0n0", "c0r0n1", "c1r0n0", "c1r0n1", "c0r1n0", "c0r1n1",
              "c1r1n0", "c1r1n1", "c0r2n0", "c0r2n1", "c1r2n0", "c1r2n1"});
  CHECK(expand("r[0-1]c[00-01]s[5,7]").size() == 8);
  // Text after the last group (Slurm 22.05 refuses it, but it is clear).
  CHECK(expand("n[1-2].ib") == names{"n1.ib", "n2.ib"});
}

TEST_CASE("the same names as scontrol show hostnames") {
  scontrol slurm;
  if (auto why = slurm.unavailable(); !why.empty()) {
    MESSAGE("skipped: " << why);
    return;
  }
  for (std::string list :
       {"vm", "node[01-03,7]", "rack[1-2]-n[1-2]", "x[1-2][3-4]",
        "n[8-11],m[009-011]", "n[1-010]", "n[0-10],n[00-10]",
        "gpu-a100.r[1,3-4]-n[007-009,11]", "a,b-c.d,e_f", "n[3,1,3],n1",
        "[1-3]", "n1-[2-3]", "n[0-299]", "c[0-1]r[0-2]n[0-3]",
        "a[0-1]b[0-2]c[0-3]d[0-4]", "v[0-1]w[0-1]x[0-1]y[0-1]z[0-1]"}) {
    INFO("list: ", list);
    CHECK(expand(list) == slurm.hostnames(list));
  }
  // Slurm refuses these too.
  for (std::string list : {"n[3-1]", "n[]", "n[a-b]", "n[1-2-3]", "n[-5]",
                           "n[1[2]]", "n[1-2]]", "n[1,]", "n[,1]"}) {
    INFO("list: ", list);
    CHECK(slurm.hostnames(list) == names{"Invalid hostlist"});
    failure(list);
  }
}

TEST_CASE("malformed lists: a parse error naming the input and position") {
  struct bad {
    std::string text;
    std::string fragment;
  };
  for (auto& [text, fragment] : std::vector<bad>{
         {"", "is empty"},
         {"n[1-3", "the '[' at position 1 is never closed"},
         {"n[1-", "the '[' at position 1 is never closed"},
         {"n[", "the '[' at position 1 is never closed"},
         {"a,n[1,2", "the '[' at position 3 is never closed"},
         {"n[3-1]", "range 3-1 at position 2 runs backwards"},
         {"n[010-9]", "range 010-9 at position 2 runs backwards"},
         {"a,,b", "empty element at position 2"},
         {",a", "empty element at position 0"},
         {"a,", "empty element at position 2"},
         {"n[]", "empty range at position 2"},
         {"n[1,]", "empty range at position 4"},
         {"n[,1]", "empty range at position 2"},
         {"n[a-b]", "expected a digit at position 2, found 'a'"},
         {"n[5-]", "expected a digit at position 4, found ']'"},
         {"n[-5]", "expected a digit at position 2, found '-'"},
         {"n[ 1]", "expected a digit at position 2, found byte 0x20"},
         {"n[1-2-3]", "expected ',' or ']' at position 5, found '-'"},
         {"n[1x]", "expected ',' or ']' at position 3, found 'x'"},
         {"n[1[2]]", "expected ',' or ']' at position 3, found '['"},
         {"n[1-2]]", "']' at position 6 closes no '['"},
         {"n]", "']' at position 1 closes no '['"},
         {"a b", "unexpected byte 0x20 at position 1"},
         {"a,\tb", "unexpected byte 0x09 at position 2"},
         {"n\xc3\xa9", "unexpected byte 0xc3 at position 1"},
         {"n[18446744073709551616]", "the number at position 2 exceeds "
                                     "18446744073709551615"},
       }) {
    auto message = failure(text);
    INFO("input: ", text);
    INFO("message: ", message);
    CHECK(mesh::test::contains(message, fragment));
    CHECK(mesh::test::contains(message, "hostlist '"));
  }
  // Control characters are shown escaped, and a long input is cut.
  CHECK(mesh::test::contains(failure("a\x01"), "'a\\x01'"));
  CHECK(mesh::test::contains(failure(std::string(100, 'a') + " "), "...'"));
}

TEST_CASE("bounded: at most 65536 names of at most 255 characters") {
  static_assert(max_hostlist_names == 65536);
  auto all = expand("n[0-65535]");
  CHECK(all.size() == max_hostlist_names);
  CHECK(all.back() == "n65535");
  for (auto list : {"n[0-65536]", "n[0-99999999]", "n[0-18446744073709551615]",
                    "n[0-65535],m", "a[0-300]b[0-300]",
                    "a[0-1][0-1][0-1][0-1][0-1][0-1][0-1]"
                    "[0-1][0-1][0-1][0-1][0-1][0-1][0-1][0-1][0-1][0-1]"}) {
    INFO("list: ", list);
    CHECK(
      mesh::test::contains(failure(list), "expands to more than 65536 names"));
  }
  CHECK(expand(std::string(255, 'a')).front().size() == 255);
  CHECK(mesh::test::contains(failure(std::string(256, 'a')),
                             "makes names longer than 255 characters"));
  CHECK(mesh::test::contains(failure(std::string(250, 'a') + "[1-100000]"),
                             "expands to more than 65536 names"));
  CHECK(mesh::test::contains(failure(std::string(250, 'a') + "[1-123456]"),
                             "65536"));
  CHECK(mesh::test::contains(failure(std::string(250, 'a') + "[1-999999]"),
                             "65536"));
  CHECK(mesh::test::contains(failure(std::string(250, 'a') + "[1-1,999999]"),
                             "makes names longer than 255 characters"));
  CHECK(mesh::test::contains(failure("n[" + std::string(256, '0') + "]"),
                             "is longer than 255 characters"));
}

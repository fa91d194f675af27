// host_mesh_ref: a non-owning view of a host mesh.
//
// Contract:
// - Copies share one data (id, region, agents, addresses, default command);
//   nothing here starts or stops a host.
// - range() narrows the view to a sub-region without contacting any host;
//   the agents and addresses are those of the selected hosts, by view rank.
// - to_string() and parse() carry a reference to another process: parse()
//   connects to every host within attach_config_timeout and fails if any
//   host cannot be reached.
#include "mesh/host_mesh.hpp"

#include "bootstrap/network.hpp"
#include "libmesh/src/client/mesh_data.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"

#include <caf/actor_system.hpp>

namespace mesh {

host_mesh_ref::host_mesh_ref() : d_(std::make_shared<data>()) {
}

host_mesh_ref::host_mesh_ref(std::shared_ptr<data> d) : d_(std::move(d)) {
}

const host_mesh_id& host_mesh_ref::id() const {
  return d_->id;
}

const mesh::region& host_mesh_ref::region() const {
  return d_->region;
}

mesh::extent host_mesh_ref::extent() const {
  return d_->region.extent();
}

std::vector<std::string> host_mesh_ref::host_addrs() const {
  return d_->addrs;
}

host_agent_actor host_mesh_ref::agent(size_t host_rank) const {
  return host_rank < d_->agents.size() ? d_->agents[host_rank]
                                       : host_agent_actor{};
}

caf::actor_system& host_mesh_ref::system() const {
  return *d_->sys;
}

caf::expected<host_mesh_ref>
host_mesh_ref::range(std::string_view label, size_t begin, size_t end,
                     size_t step) const {
  auto sliced = d_->region.range(label, begin, end, step);
  if (!sliced)
    return std::move(sliced.error());
  auto d = std::make_shared<data>(*d_);
  d->region = *sliced;
  d->agents.clear();
  d->addrs.clear();
  for (auto base : sliced->base_ranks()) {
    auto view = d_->region.view_rank_of(base);
    if (!view)
      return make_error(ec::invalid_argument, "range of host mesh "
                                                + d_->id.to_string(),
                        "selects a host outside the mesh");
    d->agents.push_back(d_->agents[*view]);
    d->addrs.push_back(d_->addrs[*view]);
  }
  return host_mesh_ref{std::move(d)};
}

std::string host_mesh_ref::to_string() const {
  std::string result = d_->id.to_string() + ":";
  for (size_t i = 0; i < d_->addrs.size(); ++i)
    result += (i == 0 ? "" : ",") + d_->addrs[i];
  return result + "@" + d_->region.to_string();
}

caf::expected<host_mesh_ref> host_mesh_ref::parse(caf::actor_system& sys,
                                                  std::string_view text) {
  auto colon = text.find(':');
  auto at = text.rfind('@');
  if (colon == std::string_view::npos)
    return make_error(ec::parse_error, "host mesh '" + std::string{text} + "'",
                      "missing the mesh id before ':'");
  if (at == std::string_view::npos || at < colon)
    return make_error(ec::parse_error, "host mesh '" + std::string{text} + "'",
                      "missing the region after '@'");
  auto id = host_mesh_id::parse(text.substr(0, colon));
  if (!id)
    return std::move(id.error());
  auto region = region::parse(text.substr(at + 1));
  if (!region)
    return std::move(region.error());
  auto d = std::make_shared<data>();
  d->sys = &sys;
  d->id = *id;
  d->region = *region;
  auto hosts = text.substr(colon + 1, at - colon - 1);
  while (!hosts.empty()) {
    auto comma = hosts.find(',');
    auto addr = hosts.substr(0, comma);
    d->addrs.emplace_back(addr);
    hosts = comma == std::string_view::npos ? std::string_view{}
                                            : hosts.substr(comma + 1);
  }
  if (d->addrs.size() != region->num_ranks())
    return make_error(ec::parse_error, "host mesh '" + std::string{text} + "'",
                      "lists " + std::to_string(d->addrs.size())
                        + " hosts for a region of "
                        + std::to_string(region->num_ranks()) + " ranks");
  std::vector<net::endpoint> targets;
  for (auto& addr : d->addrs) {
    auto ep = net::parse_endpoint(addr);
    if (!ep)
      return std::move(ep.error());
    targets.push_back(std::move(*ep));
  }
  auto timeout = config_of(sys).get(keys::attach_config_timeout);
  for (auto& agent :
       // blocking: parse() is for application threads
       net::connect_all<host_agent_actor>(sys, targets, timeout)) {
    if (!agent)
      return std::move(agent.error());
    d->agents.push_back(std::move(*agent));
  }
  return host_mesh_ref{std::move(d)};
}

} // namespace mesh

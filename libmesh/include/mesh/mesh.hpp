// libmesh: meshes of hosts, procs and actors on the C++ Actor Framework.
// Including this header gives the whole public API.
#pragma once

#include "mesh/actor_mesh.hpp"
#include "mesh/actors.hpp"
#include "mesh/async.hpp"
#include "mesh/bootstrap.hpp"
#include "mesh/config.hpp"
#include "mesh/config_keys.hpp"
#include "mesh/error.hpp"
#include "mesh/extent.hpp"
#include "mesh/host_mesh.hpp"
#include "mesh/id.hpp"
#include "mesh/introspect.hpp"
#include "mesh/mesh_file.hpp"
#include "mesh/proc_mesh.hpp"
#include "mesh/region.hpp"
#include "mesh/status.hpp"
#include "mesh/supervisor.hpp"
#include "mesh/system.hpp"
#include "mesh/this_proc.hpp"
#include "mesh/value_mesh.hpp"

// The out-of-line destructors of the allocator interfaces (mesh/allocator.hpp):
// their vtables and type information live in libmesh.so, once.
#include "mesh/allocator.hpp"

namespace mesh {

allocation::~allocation() = default;

allocator::~allocator() = default;

} // namespace mesh

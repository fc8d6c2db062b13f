// forecast's ranks without MPI: one process (see ranks.h).
#include "ranks.h"

#include <cstdlib>

namespace forecast {

struct Ranks::State {};

Ranks::Ranks(int&, char**&) {}
Ranks::~Ranks() = default;
tg::ProcessGroup* Ranks::group() const { return nullptr; }
int Ranks::rank() const { return 0; }
int Ranks::size() const { return 1; }
void Ranks::abort_all(int code) const { std::exit(code); }

}  // namespace forecast

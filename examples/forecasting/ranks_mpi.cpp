// forecast's ranks over MPI (tapegrad::dist): see ranks.h.
#include "ranks.h"

#include <tapegrad/nn/dist/dist.h>

namespace forecast {

struct Ranks::State {
  tg::dist::Session session;
  State(int& argc, char**& argv) : session(argc, argv) {}
};

Ranks::Ranks(int& argc, char**& argv) : state_(std::make_unique<State>(argc, argv)) {}
Ranks::~Ranks() = default;
tg::ProcessGroup* Ranks::group() const { return &tg::dist::world(); }
int Ranks::rank() const { return tg::dist::rank(); }
int Ranks::size() const { return tg::dist::world_size(); }
void Ranks::abort_all(int code) const { tg::dist::abort(code); }

}  // namespace forecast

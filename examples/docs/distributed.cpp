#include <tapegrad/nn/dist/dist.h>  // the tapegrad::dist component, which links tapegrad::tapegrad
#include <tapegrad/tapegrad.h>

// Run alone (one process) or with `mpirun -np 2 ./docs_distributed`: the same result either way.
int main(int argc, char** argv) {
  using namespace tg;
  dist::Session mpi(argc, argv);  // MPI_Init ... MPI_Finalize (when started by mpirun)
  manual_seed(42);                // any seed: rank 0's initial weights are broadcast
  Generator data_rng(42);
  ForecastData d = one_step_data(data_rng, {.train = 512, .valid = 128, .test = 1});

  Sequential model(Input{None, 1}, SimpleRNN(8), Dense(1));
  Adam opt(model.parameters());
  Generator shuffle(7);  // the same seed on every rank: every rank cuts the same global batches
  FitOptions o;
  o.epochs = 2;
  o.batch_size = 32 / dist::world_size();  // each rank's share; the global batch stays 32
  o.optimizer = &opt;
  o.generator = &shuffle;
  o.validation_data = std::make_pair(d.x_valid, d.y_valid);
  o.verbose = dist::rank() == 0 ? 2 : 0;
  o.process_group = &dist::world();  // MPI_COMM_WORLD: one process when not started by mpirun
  History h = fit(model, d.x_train, d.y_train, o);
  return h["val_loss"].back() < h["val_loss"].front() ? 0 : 1;
}

// A distributed fit in which the last rank fails after a few steps, for dist_failure_test.sh:
//   dist_crash kill   the last rank kills itself (SIGKILL), as a crashed or OOM-killed process
//   dist_crash exit   the last rank calls exit(3) without MPI_Finalize
//   dist_crash throw  the last rank throws; the exception unwinds through the Session (MPI_Abort)
// The other ranks are inside MPI_Allreduce at that moment; the job must end, non-zero, and not hang.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <tapegrad/nn/dist/dist.h>
#include <tapegrad/tapegrad.h>

#include <tapegrad/optim/sgd.h>

namespace {

// Fails on the last rank at the end of the second epoch.
class Failure : public tg::Callback {
 public:
  explicit Failure(std::string mode) : mode_(std::move(mode)) {}
  void on_epoch_end(int epoch, const tg::Logs&) override {
    if (epoch != 1 || tg::dist::rank() != tg::dist::world_size() - 1) return;
    std::fprintf(stderr, "dist_crash: rank %d fails (%s)\n", tg::dist::rank(), mode_.c_str());
    if (mode_ == "kill") std::raise(SIGKILL);
    if (mode_ == "exit") std::exit(3);
    throw tg::ValueError("dist_crash: a failure on one rank");
  }

 private:
  std::string mode_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "kill";
  try {
    tg::dist::Session mpi(argc, argv);  // inside the try: an exception unwinds through it
    tg::manual_seed(1);
    tg::Sequential model(tg::Input{tg::None, 1}, tg::SimpleRNN(16), tg::Dense(1));
    model.build({-1, 20, 1});
    tg::SGD sgd(model.parameters(), 0.01);
    tg::Tensor x = tg::randn({256, 20, 1}), y = tg::randn({256, 1});
    Failure failure(mode);
    tg::fit(model, x, y,
            {.epochs = 1000,
             .batch_size = 16,
             .optimizer = &sgd,
             .callbacks = {&failure},
             .verbose = 0,
             .process_group = &tg::dist::world()});
    std::fprintf(stderr, "dist_crash: rank %d finished 1000 epochs: the failure did not stop it\n", tg::dist::rank());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dist_crash: %s\n", e.what());
    return 1;
  }
}

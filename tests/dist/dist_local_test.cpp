// tapegrad::dist in one plain process (no mpirun): rank 0 of a world of one, the launcher check of
// dist::world(), and fit on the world, which must change nothing. The runs on two ranks are
// dist_mpi_test.cpp (ctest dist_np2, under mpirun).
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include <tapegrad/nn/dist/dist.h>
#include <tapegrad/optim/sgd.h>
#include <tapegrad/tapegrad.h>

namespace tg {
namespace {

TEST(DistOneProcess, RankAndWorldWithoutSession) {
  if (dist::initialized()) GTEST_SKIP() << "MPI was initialised by the runner";
  EXPECT_EQ(dist::rank(), 0);
  EXPECT_EQ(dist::world_size(), 1);
  EXPECT_EQ(dist::world().rank(), 0);
  EXPECT_EQ(dist::world().size(), 1);
}

TEST(DistOneProcess, TheWorldUnderALauncherNeedsASession) {
  if (dist::initialized() || dist::launched()) GTEST_SKIP() << "the runner itself runs under MPI";
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);  // as mpirun would
  std::string message;
  try {
    (void)dist::world();
  } catch (const ValueError& e) {
    message = e.what();
  }
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  EXPECT_NE(message.find("tg::dist::Session"), std::string::npos) << message;
}

TEST(DistOneProcess, FitOnTheWorldOfOneProcessChangesNothing) {
  if (dist::world_size() != 1) GTEST_SKIP() << "the runner itself runs on several ranks";
  auto run = [](bool distributed) {
    manual_seed(3);
    Sequential model(Input{None, 1}, SimpleRNN(4), Dense(1));
    model.build({-1, 5, 1});
    SGD sgd(model.parameters(), 0.01);
    Generator g(5), data(6);
    Tensor x = randn({37, 5, 1}, DType::f32, &data), y = randn({37, 1}, DType::f32, &data);
    History h = fit(model, x, y,
                    {.epochs = 2,
                     .batch_size = 8,
                     .optimizer = &sgd,
                     .verbose = 0,
                     .generator = &g,
                     .process_group = distributed ? &dist::world() : nullptr});
    std::vector<double> w;
    for (const Tensor& p : model.parameters())
      for (double v : p.to_vector()) w.push_back(v);
    w.push_back(h["loss"].back());
    return w;
  };
  EXPECT_EQ(run(true), run(false));
}

}  // namespace
}  // namespace tg

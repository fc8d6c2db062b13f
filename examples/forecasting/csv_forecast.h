#pragma once
// `forecast --csv FILE --column NAME`: the forecasting job on a user's series (a column of a CSV
// file) instead of the notebook's synthetic one. It reads the column (missing values
// interpolated by default), preprocesses it with transforms fitted on the training part only,
// trains the baselines and the walkthrough's models on windows of it, and prints a leaderboard
// (MAE, RMSE, MASE) on the held-out end of the series, or averaged over rolling origins
// (--backtest K). `--save DIR` keeps the best learned model and its preprocessing;
// `forecast --load DIR --csv FILE --predict` forecasts the next values from the file's last
// window. docs/forecasting-your-data.md is the guide.
//
// Exit status: 0 done, 2 a bad command line or bad input (a missing file or column, a series too
// short or constant, cells that are not numbers, ...: found before any training), 1 anything else.

namespace forecast {

/// Whether the command line asks for this job (it holds --csv or --load).
bool wants_csv(int argc, char** argv);

/// Runs the job; returns the exit status. Exceptions after the input checks reach the caller
/// (cli::guarded_main turns them into status 1).
int csv_main(int argc, char** argv);

}  // namespace forecast

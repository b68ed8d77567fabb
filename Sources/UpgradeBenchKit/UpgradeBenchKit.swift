// The driver library: scenarios, runner, CSV and HdrHistogram writers. See README.md.

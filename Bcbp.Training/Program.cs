using Bcbp.Training.Cli;

// Before any thread of ours starts (setenv races getenv on other threads): NVLink multicast off unless the user set
// NCCL_NVLS_ENABLE (docs/distributed.md); ranks inherit it from the launcher.
Bcbp.Kernels.Interop.Nccl.DefaultNvlsOff();

// bcbp [COMMAND] [options]: see Cli/BcbpCli.cs and `bcbp --help`.
return BcbpCli.Run(args);

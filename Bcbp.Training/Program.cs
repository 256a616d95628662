using Bcbp.Training.Cli;

// bcbp [COMMAND] [options]: see Cli/BcbpCli.cs and `bcbp --help`.
return BcbpCli.Run(args);

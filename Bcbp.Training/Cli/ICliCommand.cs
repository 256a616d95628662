using System.CommandLine;

namespace Bcbp.Training.Cli;

/// <summary>A subcommand of <c>bcbp</c> (<c>train</c>, <c>verify</c>, ...): it declares its options and an action that
/// parses them, calls one domain entry point and prints. <see cref="BcbpCli"/> lists every command.</summary>
public interface ICliCommand
{
    /// <summary>The System.CommandLine command: name, description, options (each with a description and default) and
    /// its action, whose return value is the exit code (<see cref="ExitCodes"/>).</summary>
    Command Build();
}

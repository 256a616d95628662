namespace Bcbp.Training.Cli;

/// <summary>A subcommand of the <c>bcbp</c> CLI (<c>train</c>, <c>verify</c>, <c>bench</c>, ...). Commands are found by
/// reflection, so adding one is adding a file.</summary>
public interface ICliCommand
{
    /// <summary>The word after <c>bcbp</c>.</summary>
    string Name { get; }
    /// <summary>One line for <c>bcbp --help</c>.</summary>
    string Summary { get; }
    /// <summary>Runs the command; the return value is the process exit code.</summary>
    int Run(CliArgs args);
}

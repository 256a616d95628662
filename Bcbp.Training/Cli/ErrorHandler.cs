namespace Bcbp.Training.Cli;

/// <summary>
/// The one top-level handler: an exception that reaches the CLI becomes one <c>error:</c> line on stderr and an exit
/// code (<see cref="ExitCodes"/>); the stack trace only under <c>--verbose</c> (a run's run.log has it too).
/// </summary>
public static class ErrorHandler
{
    /// <summary>Runs <paramref name="action"/>, turning its exception into a message on <paramref name="error"/> and an exit code.</summary>
    public static int Run(Func<int> action, bool verbose, TextWriter error)
    {
        try { return action(); }
        catch (Exception e)
        {
            int code = ExitCodeOf(e);
            error.WriteLine($"error: {e.Message}");
            if (verbose) error.WriteLine(e.ToString());
            else if (code == ExitCodes.RuntimeFault) error.WriteLine("(--verbose prints the stack trace; a run's run.log has it)");
            return code;
        }
    }

    /// <summary>Bad input (an option, config, file or its contents) is 2; anything else that failed at run time is 3.</summary>
    public static int ExitCodeOf(Exception e) => e switch
    {
        OperationCanceledException => ExitCodes.Interrupted,
        ArgumentException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or FormatException
            or NotSupportedException or InvalidOperationException => ExitCodes.UsageError,
        _ => ExitCodes.RuntimeFault,
    };
}

using System.Reflection;
using System.Runtime.InteropServices;
using Bcbp.Models.IO;
using Bcbp.Training.Fitting;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Cli;

/// <summary>
/// The one place an exception becomes what the user sees: one line on stderr naming what failed, the file or key, and
/// the fix, and an exit code (<see cref="ExitCodes"/>). The stack trace goes to stderr only with <c>--verbose</c> (a run
/// writes it to its run.log either way).
/// </summary>
public static class ErrorHandler
{
    /// <summary>Runs <paramref name="command"/>; returns its exit code, or the code of the exception it threw.</summary>
    public static int Run(Func<int> command, bool verbose, TextWriter? stderr = null)
    {
        stderr ??= Console.Error;
        try
        {
            return command();
        }
        catch (Exception e)
        {
            var (code, line) = Classify(e);
            stderr.WriteLine($"error: {line}");
            if (verbose) stderr.WriteLine(e.ToString());
            else if (code == ExitCodes.RuntimeFault && Unwrap(e) is not (TrainingDivergedException or CheckpointException or RunLockedException))
                stderr.WriteLine("(--verbose prints the stack trace; a run's run.log has it)");
            return code;
        }
    }

    /// <summary>The exit code of <paramref name="e"/> (<see cref="Classify"/>'s).</summary>
    public static int ExitCodeOf(Exception e) => Classify(e).Code;

    /// <summary>The exit code and the one-line message for <paramref name="e"/>.</summary>
    public static (int Code, string Line) Classify(Exception e)
    {
        e = Unwrap(e);
        string message = OneLine(e.Message);
        return e switch
        {
            OperationCanceledException => (ExitCodes.Interrupted, "interrupted"),
            TrainingDivergedException or CheckpointException or RunLockedException => (ExitCodes.RuntimeFault, message),
            FileNotFoundException or DirectoryNotFoundException => (ExitCodes.UsageError, message),
            UnauthorizedAccessException => (ExitCodes.RuntimeFault, $"{message} Fix: make the folder writable, or set output_dir elsewhere."),
            IOException io when IsDiskFull(io) => (ExitCodes.RuntimeFault, $"disk full: {message} Fix: free space, or set output_dir to another disk; rerun with --resume to continue."),
            IOException io when io.Message.Contains("Read-only file system", StringComparison.OrdinalIgnoreCase) =>
                (ExitCodes.RuntimeFault, $"{message} Fix: set output_dir to a writable folder."),
            IOException => (ExitCodes.RuntimeFault, $"I/O error: {message}"),
            ExternalException => (ExitCodes.RuntimeFault, $"libtorch error: {message} (a native TorchSharp failure: check the device, the memory, data.batch_size)"),
            OutOfMemoryException => (ExitCodes.RuntimeFault, "out of memory: lower data.batch_size or data.eval_batch_size, or use a smaller model."),
            ArgumentException or InvalidDataException or FormatException or NotSupportedException or InvalidOperationException
                => (ExitCodes.UsageError, message),
            _ => (ExitCodes.RuntimeFault, $"internal error ({e.GetType().Name}): {message}"),
        };
    }

    static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } or TargetInvocationException && e.InnerException is not null)
            e = e.InnerException!;
        return e;
    }

    static bool IsDiskFull(IOException e)
        => e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase)
           || (e.HResult & 0xFFFF) is 28 or 39 or 112; // ENOSPC; ERROR_HANDLE_DISK_FULL; ERROR_DISK_FULL

    /// <summary>A message as one line: a list of problems (config errors, state-dict keys) joined with "; ", and a
    /// native error cut before libtorch's C++ backtrace.</summary>
    static string OneLine(string message)
    {
        var lines = message.Split('\n').Select(l => l.Trim()).TakeWhile(l => !l.StartsWith("Exception raised from", StringComparison.Ordinal))
            .Where(l => l.Length > 0).Select(l => l.StartsWith("- ", StringComparison.Ordinal) ? l[2..] : l).ToList();
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < lines.Count; i++)
            sb.Append(i == 0 ? "" : lines[i - 1].EndsWith(':') ? " " : "; ").Append(lines[i]);
        return Printable.Of(sb.ToString(), 4000);
    }
}

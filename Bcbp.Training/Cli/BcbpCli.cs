using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Reflection;
using System.Runtime.InteropServices;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Cli;

/// <summary>
/// The <c>bcbp</c> command line on System.CommandLine: the command table, <c>--version</c>, <c>--verbose</c>,
/// <c>help COMMAND</c>, <c>completion</c>, and one place that turns parse errors and exceptions into one message on
/// stderr and an exit code (<see cref="ExitCodes"/>). With no command word, <c>train</c> runs
/// (<c>bcbp --config quick</c>).
/// </summary>
public static class BcbpCli
{
    /// <summary>Every command, in the order <c>bcbp --help</c> and README's table list them.</summary>
    static IEnumerable<ICliCommand> Commands() => new ICliCommand[]
    {
        new TrainCommand(), new SuiteCommand(), new CompareCommand(), new SparseCommand(), new ShrinkCommand(),
        new ExportCommand(),
        new VerifyCommand(), new BenchCommand(), new BenchTrainCommand(), new DataBenchCommand(), new KernelsCommand(),
    };

    /// <summary>Accepted anywhere on the line: print an error's stack trace.</summary>
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "print the stack trace with an error", Recursive = true };

    const string ExitCodeHelp =
        "Exit codes: 0 ok, 1 a check failed (verify, sparse, shrink, a suite cell), 2 usage or input error (bad option, config, file),\n" +
        "  3 runtime or I/O fault (disk, CUDA, native error), 130 interrupted.";

    /// <summary>The root command with every subcommand.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("bcbp: train, prune (BCBP and baselines), convert and benchmark sparse models. " +
                                   "Without a command word, train runs: bcbp --config quick.");
        root.Options.Add(Verbose);
        foreach (var command in Commands()) root.Subcommands.Add(command.Build());
        root.Subcommands.Add(HelpCommand.Build(root));
        root.Subcommands.Add(CompletionCommand.Build());
        var version = root.Options.OfType<VersionOption>().Single();
        version.Action = new PrintVersion();
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new HelpWithExitCodes((SynchronousCommandLineAction)help.Action!);
        // `bcbp` alone prints the help (exit 0), as `bcbp --help` does.
        root.SetAction(p => ((SynchronousCommandLineAction)help.Action).Invoke(p));
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code. Help and command output go to
    /// <paramref name="output"/> (stdout), errors to <paramref name="error"/> (stderr), once.</summary>
    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        var root = BuildRoot();
        var parse = root.Parse(WithDefaultCommand(args, root));
        var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        if (parse.Action is ParseErrorAction)
        {
            // System.CommandLine would print the errors, its suggestions on stdout, the help, and exit 1.
            ParseErrors.Write(parse, error);
            return ExitCodes.UsageError;
        }
        // Ctrl+C: one line and 130. Checkpoints and results are written atomically, so stopping anywhere loses at most
        // the epoch in progress (train --resume, or the suite run again, continues).
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            error.WriteLine("error: interrupted; a stopped train continues with --resume, a stopped suite by running it again");
            error.Flush();
            // Not Environment.Exit: running .NET's shutdown under libtorch's busy threads crashes (SIGSEGV).
            if (OperatingSystem.IsWindows()) Environment.Exit(ExitCodes.Interrupted);
            else ExitNow(ExitCodes.Interrupted);
        });
        return ErrorHandler.Run(() => parse.Invoke(config), parse.GetValue(Verbose), error);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    static extern void ExitNow(int status);

    /// <summary>Inserts <c>train</c> when the line starts with an option that is not the root's own.</summary>
    static string[] WithDefaultCommand(string[] args, RootCommand root)
    {
        var rootNames = root.Options.SelectMany(o => o.Aliases.Append(o.Name)).ToHashSet();
        int first = Array.FindIndex(args, a => a != Verbose.Name);
        if (first < 0 || !args[first].StartsWith('-') || rootNames.Contains(args[first])) return args;
        return args[..first].Append("train").Concat(args[first..]).ToArray();
    }

    /// <summary>The version with the commit the build was stamped with.</summary>
    public static string VersionLine()
    {
        var info = typeof(BcbpCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
        string version = info.Split('+')[0], commit = Provenance.Commit();
        string torchSharp = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString(3) ?? "?";
        return $"bcbp {version} (commit {(commit.Length > 0 ? commit : "unknown")}), TorchSharp {torchSharp}, .NET {Environment.Version}";
    }

    /// <summary>System.CommandLine's help, and under the root's the exit codes.</summary>
    sealed class HelpWithExitCodes(SynchronousCommandLineAction help) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            help.Invoke(parseResult);
            if (parseResult.CommandResult.Command is RootCommand) parseResult.InvocationConfiguration.Output.WriteLine(ExitCodeHelp + "\n");
            return ExitCodes.Ok;
        }
    }

    sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(VersionLine());
            return ExitCodes.Ok;
        }
    }
}

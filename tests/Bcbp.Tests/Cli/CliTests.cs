using System.CommandLine;
using Bcbp.Tests.Support;
using Bcbp.Training.Cli;
using Bcbp.Training.Config;
using NUnit.Framework;

namespace Bcbp.Tests.Cli;

/// <summary>The command line as a user meets it: help, version, did-you-mean, refused words, exit codes, one error
/// message on stderr and nothing on stdout.</summary>
public class CliTests
{
    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var (stdout, stderr) = (Console.Out, Console.Error);
        Console.SetOut(output); // the commands print through Console
        Console.SetError(error);
        try { return (BcbpCli.Run(args, output, error), output.ToString(), error.ToString()); }
        finally { Console.SetOut(stdout); Console.SetError(stderr); }
    }

    static IEnumerable<string> CommandNames() => BcbpCli.BuildRoot().Subcommands.Select(c => c.Name);

    [Test]
    public void RootHelpListsEveryCommandAndTheExitCodes([Values("-h", "--help")] string flag)
    {
        var (code, output, error) = Run(flag);
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(error, Is.Empty);
        foreach (var name in new[] { "train", "suite", "compare", "sparse", "shrink", "verify", "bench", "bench-train", "bench-data", "kernels", "help", "completion" })
            Assert.That(output, Does.Contain($"\n  {name} "), name);
        Assert.That(output, Does.Contain("Exit codes: 0 ok, 1 a check failed").And.Contain("130 interrupted"));
        Assert.That(Run().Out, Is.EqualTo(output), "bcbp alone prints the same help");
    }

    [TestCaseSource(nameof(CommandNames))]
    public void EveryCommandHasHelpWithEveryOptionDescribed(string name)
    {
        var (code, output, error) = Run(name, "--help");
        Assert.That(code, Is.EqualTo(ExitCodes.Ok), error);
        Assert.That(output, Does.Match($@"Usage:\s+\S+ {name} "));
        var command = BcbpCli.BuildRoot().Subcommands.Single(c => c.Name == name);
        foreach (var option in command.Options)
        {
            Assert.That(option.Description, Is.Not.Null.And.Not.Empty, $"{name} {option.Name}");
            Assert.That(output, Does.Contain(option.Name), $"{name} {option.Name}");
        }
        Assert.That(Run("help", name).Out, Is.EqualTo(output), "help COMMAND is COMMAND --help");
    }

    [Test]
    public void DefaultsAreShownInHelp()
    {
        var help = Run("bench", "--help").Out;
        Assert.That(help, Does.Contain("[default: 1,32,256]").And.Contain("[default: 20]").And.Contain("[default: runs/bench]"));
        Assert.That(Run("shrink", "--help").Out, Does.Contain("[default: 64]"));
    }

    [Test]
    public void BenchTakesProfilePlanAndRefusesACpuDeviceInOneLine()
    {
        var (code, _, err) = Run("bench", "--device", "cpu", "--layers", "no", "--profile-plan", "--out", Path.Combine(Path.GetTempPath(), "bcbp-bench-cpu-" + Guid.NewGuid().ToString("N")));
        Assert.That(code, Is.EqualTo(ExitCodes.UsageError));
        Assert.That(err, Does.Contain("bench needs a CUDA device").And.Not.Contain("--profile-plan"));
    }

    [Test]
    public void VersionNamesTheCommit()
    {
        var (code, output, _) = Run("--version");
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(output, Does.Match(@"^bcbp \S+ \(commit [0-9a-f]{7}|unknown\), TorchSharp 0\.107"));
    }

    [Test]
    public void MistypedCommandGetsASuggestionOnStderrOnly()
    {
        var (code, output, error) = Run("trian");
        Assert.That(code, Is.EqualTo(ExitCodes.UsageError));
        Assert.That(output, Is.Empty);
        Assert.That(error, Does.StartWith("error: unknown command 'trian'; did you mean 'train'?"));
        Assert.That(Run("help", "trian").Err, Does.Contain("did you mean 'train'?"));
    }

    [Test]
    public void MistypedOptionGetsASuggestion()
    {
        var (code, output, error) = Run("train", "--confg", "quick");
        Assert.That(code, Is.EqualTo(ExitCodes.UsageError));
        Assert.That(output, Is.Empty);
        Assert.That(error, Does.Contain("unknown option '--confg' for 'bcbp train'; did you mean '--config'?"));
        Assert.That(error, Does.Not.Contain("'quick'"), "the unknown option's value is not a second error");
        Assert.That(Run("sparse", "--layout", "bcpb", "--arch", "resnet20").Err, Does.Contain("did you mean 'bcbp'?"));
    }

    [Test]
    public void StrayWordsAndBadValuesAreRefused()
    {
        var (code, _, error) = Run("verify", "extra");
        Assert.That(code, Is.EqualTo(ExitCodes.UsageError));
        Assert.That(error, Does.Contain("unexpected argument 'extra' for 'bcbp verify'"));
        Assert.That(Run("bench-train", "--batch", "0").Err, Does.Contain("--batch must be at least 1, got 0"));
        Assert.That(Run("bench", "--batch", "1,x").Err, Does.Contain("--batch expects comma-separated positive integers"));
        Assert.That(Run("train", "--config", "quick", "--set", "epochs").Err, Does.Contain("--set expects key=value"));
        Assert.That(Run("verify", "--device", "gpu").Code, Is.EqualTo(ExitCodes.UsageError));
    }

    [Test]
    public void WithoutACommandWordTrainRuns()
    {
        var (code, output, error) = Run("--config", "no_such_config_anywhere");
        Assert.That(code, Is.EqualTo(ExitCodes.UsageError));
        Assert.That(output, Is.Empty);
        Assert.That(error, Does.StartWith("error: config 'no_such_config_anywhere' not found"));
        Assert.That(error, Does.Contain("see 'bcbp train --help'"));
    }

    [Test]
    public void ErrorsFromACommandArePrintedOnceWithTheirExitCode()
    {
        var (code, output, error) = Run("sparse", "--arch", "resnet20");
        Assert.That(code, Is.EqualTo(ExitCodes.UsageError));
        Assert.That(output, Is.Empty);
        Assert.That(error.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(error, Does.StartWith("error: --weights is required with --arch"));
    }

    [Test]
    public void ExceptionsMapToTheDocumentedExitCodes()
    {
        Assert.That(ErrorHandler.ExitCodeOf(new ConfigException("x", new[] { "a: bad" })), Is.EqualTo(2));
        Assert.That(ErrorHandler.ExitCodeOf(new FileNotFoundException("f")), Is.EqualTo(2));
        Assert.That(ErrorHandler.ExitCodeOf(new InvalidDataException("d")), Is.EqualTo(2));
        Assert.That(ErrorHandler.ExitCodeOf(new IOException("disk full")), Is.EqualTo(3));
        Assert.That(ErrorHandler.ExitCodeOf(new System.Runtime.InteropServices.ExternalException("CUDA error")), Is.EqualTo(3));
        Assert.That(ErrorHandler.ExitCodeOf(new OperationCanceledException()), Is.EqualTo(130));
        var error = new StringWriter();
        Assert.That(ErrorHandler.Run(() => throw new IOException("No space left on device"), verbose: false, error), Is.EqualTo(3));
        Assert.That(error.ToString(), Does.StartWith("error: disk full: No space left on device").And.Not.Contain(" at "));
        error = new StringWriter();
        ErrorHandler.Run(() => throw new IOException("No space left on device"), verbose: true, error);
        Assert.That(error.ToString(), Does.Contain(" at "), "--verbose prints the stack trace");
    }

    [Test]
    public void FileOptionsResolveBareNames()
    {
        string root = Path.Combine(Path.GetTempPath(), $"bcbp-cli-{Guid.NewGuid():N}");
        var sub = Directory.CreateDirectory(Path.Combine(root, "work", "deeper")).FullName;
        Directory.CreateDirectory(Path.Combine(root, "work", "experiments"));
        File.WriteAllText(Path.Combine(root, "work", "experiments", "grid.json"), "{}");
        Directory.CreateDirectory(Path.Combine(root, "work", "runs", "suite1", "cell"));
        try
        {
            Assert.That(PathResolver.Resolve("grid", PathKind.Suite, sub), Is.EqualTo(Path.Combine(root, "work", "experiments", "grid.json")));
            Assert.That(PathResolver.Resolve("suite1/cell", PathKind.Run, Path.Combine(root, "work")),
                Is.EqualTo(Path.Combine(root, "work", "runs", "suite1", "cell")));
            var e = Assert.Throws<DirectoryNotFoundException>(() => PathResolver.Resolve("nope", PathKind.Run, sub))!;
            Assert.That(e.Message, Does.Contain("run folder 'nope' not found").And.Contain(Path.Combine(sub, "runs", "nope")));
            Assert.Throws<FileNotFoundException>(() => PathResolver.Resolve("cell", PathKind.Suite, sub), "a folder is not a suite file");
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Test]
    public void SuiteResolvesABareNameFromTheCommandLine()
    {
        string cwd = Directory.GetCurrentDirectory();
        try
        {
            Directory.SetCurrentDirectory(RepoPaths.Root);
            var (code, output, error) = Run("suite", "--suite", "fashion_mnist", "--dry-run");
            Assert.That(code, Is.EqualTo(ExitCodes.Ok), error);
            Assert.That(output, Does.Contain("suite fashion_mnist:"));
        }
        finally { Directory.SetCurrentDirectory(cwd); }
    }

    [Test]
    public void ShellCompletionSuggestsCommandsAndOptions()
    {
        Assert.That(Run("[suggest:9]", "train --c").Out, Does.Contain("--config"));
        Assert.That(Run("[suggest:16]", "sparse --layout ").Out, Does.Contain("bcbp").And.Contain("block"));
        var (code, script, _) = Run("completion", "bash");
        Assert.That(code, Is.EqualTo(ExitCodes.Ok));
        Assert.That(script, Does.Contain("complete -o default -F _bcbp_complete bcbp").And.Contain("[suggest:"));
    }

    [Test]
    public void ReadmeTableListsEveryCommand()
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"));
        foreach (var name in CommandNames().Except(new[] { "help", "completion" }))
            Assert.That(readme, Does.Contain($"| `{name}"), name);
    }
}

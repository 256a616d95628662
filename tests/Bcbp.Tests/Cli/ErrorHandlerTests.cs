using System.Runtime.InteropServices;
using Bcbp.Models.IO;
using Bcbp.Training.Cli;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;

namespace Bcbp.Tests.Cli;

/// <summary>Every exception becomes one line and an exit code: 2 for input errors, 3 for runtime and I/O faults,
/// 130 for an interrupt; the stack trace only with --verbose.</summary>
public class ErrorHandlerTests
{
    static (int Code, string Err) Run(Exception e, bool verbose = false)
    {
        var err = new StringWriter();
        int code = ErrorHandler.Run(() => throw e, verbose, err);
        return (code, err.ToString());
    }

    [Test]
    public void ConfigErrorsAreInputErrorsOnOneLine()
    {
        var (code, err) = Run(new ConfigException("'c.json'", new[] { "train.lr: must be > 0, got 0", "train.epochs: expected an integer, got 'x'" }));
        Assert.That(code, Is.EqualTo(ExitCodes.UsageError));
        Assert.That(err, Is.EqualTo("error: config 'c.json' is invalid (2 errors): train.lr: must be > 0, got 0; train.epochs: expected an integer, got 'x'" + Environment.NewLine));
    }

    [Test]
    public void FaultsAreCode3AndNameTheFix()
    {
        Assert.That(ErrorHandler.Classify(new UnauthorizedAccessException("Access to the path '/ro/runs/q' is denied.")),
            Is.EqualTo((3, "Access to the path '/ro/runs/q' is denied. Fix: make the folder writable, or set output_dir elsewhere.")));
        var (code, line) = ErrorHandler.Classify(new IOException("No space left on device : '/full/runs/q/checkpoint.bin'"));
        Assert.That((code, line), Is.EqualTo((3, "disk full: No space left on device : '/full/runs/q/checkpoint.bin' Fix: free space, or set output_dir to another disk; rerun with --resume to continue.")));
        Assert.That(ErrorHandler.Classify(new CheckpointException("checkpoint 'c' has a truncated or corrupt header")).Code, Is.EqualTo(3));
        Assert.That(ErrorHandler.Classify(new TrainingDivergedException("dense", 1, 3, 1e6, "x", null)).Code, Is.EqualTo(3));
        var native = ErrorHandler.Classify(new ExternalException("shape '[2, 3]' is invalid for input of size 5\nException raised from view at aten/src/ATen/native/View.cpp:42\nframe #0: c10::Error"));
        Assert.That(native, Is.EqualTo((3, "libtorch error: shape '[2, 3]' is invalid for input of size 5 (a native TorchSharp failure: check the device, the memory, data.batch_size)")));
    }

    [Test]
    public void InputErrorsAreCode2()
    {
        foreach (var e in new Exception[] { new FileNotFoundException("no file"), new InvalidDataException("bad file"), new ArgumentException("bad option"),
                                            new StateDictMismatchException(new StateDictLoadResult(new string[0], new[] { "fc.weight" }, new string[0], new ShapeMismatch[0], new string[0]), "w.pt") })
            Assert.That(ErrorHandler.Classify(e).Code, Is.EqualTo(ExitCodes.UsageError), e.GetType().Name);
        Assert.That(ErrorHandler.Classify(new StateDictMismatchException(
            new StateDictLoadResult(new string[0], new[] { "fc.weight" }, new string[0], new ShapeMismatch[0], new string[0]), "w.pt")).Line, Does.Not.Contain("\n"));
    }

    [Test]
    public void StackTraceOnlyWithVerbose()
    {
        Exception Thrown() { try { throw new NullReferenceException("boom"); } catch (Exception e) { return e; } }
        var (code, quiet) = Run(Thrown());
        Assert.That(code, Is.EqualTo(ExitCodes.RuntimeFault));
        Assert.That(quiet, Does.StartWith("error: internal error (NullReferenceException): boom").And.Not.Contain("System.NullReferenceException"));
        Assert.That(Run(Thrown(), verbose: true).Err, Does.Contain("System.NullReferenceException: boom"));
        Assert.That(Run(new OperationCanceledException()).Code, Is.EqualTo(ExitCodes.Interrupted));
    }
}

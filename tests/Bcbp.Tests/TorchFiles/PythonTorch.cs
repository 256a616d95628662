using System.Diagnostics;
using Bcbp.Tests.Support;

namespace Bcbp.Tests.TorchFiles;

/// <summary>
/// Runs Debian's real PyTorch (/usr/bin/python3 with python3-torch and python3-torchvision) for reference values.
/// Without it a test is ignored locally and fails in CI (CI=true), with the install command in the message.
/// </summary>
public static class PythonTorch
{
    /// <summary>The interpreter with Debian's torch 1.13 (not a pyenv python3 that may be first on PATH).</summary>
    public const string Interpreter = "/usr/bin/python3";

    private const string InstallHint =
        "PyTorch reference tests need Debian's PyTorch for /usr/bin/python3: apt-get install python3-torch python3-torchvision";

    private static readonly Lazy<string?> Unavailable = new(Probe);

    /// <summary>Ignores (locally) or fails (CI=true) the calling test when torch cannot be imported.</summary>
    public static void Require()
    {
        if (Unavailable.Value is not string why) return;
        var message = $"{InstallHint} ({why})";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            Assert.Fail(message);
        Assert.Ignore(message);
    }

    /// <summary>Runs a script of the repository's tests/fixtures folder; throws with its output when it fails.</summary>
    public static string RunFixtureScript(string scriptName, params string[] args)
    {
        Require();
        var script = Path.Combine(RepoPaths.FixturesDir, scriptName);
        var (code, output) = Run(script, args);
        if (code != 0)
            throw new InvalidOperationException($"{scriptName} {string.Join(' ', args)} exited with {code}:\n{output}");
        return output;
    }

    private static string? Probe()
    {
        if (!File.Exists(Interpreter)) return $"{Interpreter} not found";
        try
        {
            var (code, output) = Run("-c", new[] { "import torch, torchvision" });
            return code == 0 ? null : $"import torch, torchvision failed: {output.Trim()}";
        }
        catch (Exception e)
        {
            return $"{Interpreter} could not start: {e.Message}";
        }
    }

    private static (int Code, string Output) Run(string first, IEnumerable<string> rest)
    {
        var psi = new ProcessStartInfo(Interpreter)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(first);
        foreach (var a in rest) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "2";
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}

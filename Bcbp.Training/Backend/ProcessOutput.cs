using System.Diagnostics;

namespace Bcbp.Training.Backend;

/// <summary>Runs a helper program (git, python3) and returns what it printed, for best-effort probes.</summary>
public static class ProcessOutput
{
    /// <summary>The trimmed standard output of <paramref name="file"/> <paramref name="arguments"/> when it exits with
    /// 0 within <paramref name="timeoutMs"/>; null when it fails or exits otherwise. Throws when it cannot be started
    /// (not installed), so callers can say which.</summary>
    public static string? Read(string file, string arguments, int timeoutMs)
    {
        var psi = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd().Trim();
        if (!p.WaitForExit(timeoutMs)) { p.Kill(); return null; }
        return p.ExitCode == 0 ? output : null;
    }
}

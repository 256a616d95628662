using System.Diagnostics;

namespace Bcbp.Training.Runner;

/// <summary>Where a result came from: the source commit and the machine.</summary>
public static class Provenance
{
    /// <summary>Short hash of HEAD of the git checkout around the working directory; "" outside one.</summary>
    public static string Commit()
    {
        try
        {
            var psi = new ProcessStartInfo("git", "rev-parse --short HEAD")
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            var hash = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit(5_000);
            return p.ExitCode == 0 ? hash : "";
        }
        catch (Exception) { return ""; } // no git on the machine (the GPU bundle): provenance is best effort
    }

    public static string Machine(string device) =>
        $"{Environment.MachineName}, {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, device {device}";
}

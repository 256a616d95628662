using System.Reflection;
using Bcbp.Training.Backend;

namespace Bcbp.Training.Runs;

/// <summary>Where a result came from: the source commit and the machine.</summary>
public static class Provenance
{
    /// <summary>Short hash of the commit the app was built from (the SDK stamps it into the informational version,
    /// so it survives publishing to a machine without git); else HEAD of the git checkout around the working
    /// directory; "" when neither is known.</summary>
    public static string Commit()
    {
        var version = typeof(Provenance).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        int plus = version?.IndexOf('+') ?? -1;
        if (plus >= 0 && version!.Length - plus > 7) return version.Substring(plus + 1, 7);
        try { return ProcessOutput.Read("git", "rev-parse --short HEAD", 5_000) ?? ""; }
        catch (Exception) { return ""; } // no git on the machine: provenance is best effort
    }

    public static string Machine(string device) =>
        $"{Environment.MachineName}, {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, device {device}";
}

namespace Bcbp.Tests.TorchFiles;

/// <summary>
/// The files tests/fixtures/make_torchvision_fixtures.py writes, generated once per test run into a temp folder
/// (deleted when the test process exits).
/// </summary>
public static class TorchvisionFixtures
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), $"bcbp-fixtures-{Environment.ProcessId}");
    private static readonly Lazy<string> NamesDir = new(() => Generate("names"));
    private static readonly Lazy<string> WeightsDir = new(() => Generate("weights"));

    static TorchvisionFixtures()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true); }
            catch (IOException) { /* a temp folder left behind is harmless */ }
        };
    }

    /// <summary>torchvision's state-dict entries of <paramref name="arch"/>: name, dtype, shape, in order.</summary>
    public static IReadOnlyList<(string Name, string DType, long[] Shape)> StateDictEntries(string arch)
    {
        PythonTorch.Require();
        var path = Path.Combine(NamesDir.Value, "names", arch + ".tsv");
        return File.ReadAllLines(path).Where(l => l.Length > 0).Select(line =>
        {
            var parts = line.Split('\t');
            var shape = parts[2].Length == 0 ? Array.Empty<long>() : parts[2].Split(',').Select(long.Parse).ToArray();
            return (parts[0], parts[1], shape);
        }).ToList();
    }

    /// <summary>Path of a file of the "weights" set (e.g. resnet18.pt, misc.pt, hostile_os_system.pt).</summary>
    public static string WeightsFile(string name)
    {
        PythonTorch.Require();
        return Path.Combine(WeightsDir.Value, name);
    }

    private static string Generate(string what)
    {
        var dir = Path.Combine(Root, what);
        PythonTorch.RunFixtureScript("make_torchvision_fixtures.py", dir, what);
        return dir;
    }
}

namespace Bcbp.Tests.Support;

/// <summary>Locates the repository (the folder holding Bcbp.sln) from the test binaries.</summary>
public static class RepoPaths
{
    /// <summary>The repository root.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>tests/fixtures, where the PyTorch fixture scripts live.</summary>
    public static string FixturesDir => Path.Combine(Root, "tests", "fixtures");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Bcbp.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"No Bcbp.sln above {AppContext.BaseDirectory}; run the tests from a checkout.");
    }
}

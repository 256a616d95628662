using Bcbp.Tests.Models;

namespace Bcbp.Tests.Support;

/// <summary>Base of tests that write files: a fresh temp folder per test (deleted after) and the CPU backend.</summary>
public abstract class TempDirectoryTest
{
    /// <summary>This test's folder.</summary>
    protected string Dir { get; private set; } = "";

    [SetUp]
    public void CreateTempDirectory()
    {
        ModelTestSupport.InitCpu();
        Dir = Directory.CreateTempSubdirectory("bcbp-test-").FullName;
    }

    [TearDown]
    public void DeleteTempDirectory() => Directory.Delete(Dir, recursive: true);
}

using System.Text.Json;
using Bcbp.Training.Config;
using Bcbp.Training.Distributed;
using Bcbp.Training.Fitting;
using Bcbp.Training.Runs;
using Bcbp.Tests.Support;

namespace Bcbp.Tests.Distributed;

/// <summary>The launcher with child processes: the variables each rank gets, output prefixed by rank, fail-fast; and
/// bcbp train itself as 2 CPU ranks (the store carries the collectives), then resumed with 1 rank.</summary>
public class ProcessLauncherTests : TempDirectoryTest
{
    static string Sh(string script) => script;

    static (int Code, string Out, string Err) Launch(LaunchSpec spec, TimeSpan? grace = null)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = ProcessLauncher.Run(spec, output, error, grace: grace);
        return (code, output.ToString(), error.ToString());
    }

    [Test]
    public void EachRankGetsTorchrunsVariablesAndItsOutputIsPrefixed()
    {
        var (code, output, _) = Launch(new LaunchSpec("/bin/sh",
            new[] { "-c", Sh("echo \"$RANK $LOCAL_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $MASTER_ADDR $NCCL_NVLS_ENABLE\"") }, 3, Nodes: 2, NodeRank: 1,
            MasterAddr: "node0", MasterPort: 29511));
        Assert.That(code, Is.EqualTo(0));
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order().ToList();
        Assert.That(lines, Is.EqualTo(new[] { "[rank 3] 3 0 6 3 node0 0", "[rank 4] 4 1 6 3 node0 0", "[rank 5] 5 2 6 3 node0 0" }));
    }

    [Test]
    public void AnNvlsValueTheUserSetReachesTheRanksUnchanged()
    {
        string? before = Environment.GetEnvironmentVariable("NCCL_NVLS_ENABLE");
        Environment.SetEnvironmentVariable("NCCL_NVLS_ENABLE", "1"); // the launcher's environment, as the user set it
        try
        {
            var (code, output, _) = Launch(new LaunchSpec("/bin/sh", new[] { "-c", "echo nvls=$NCCL_NVLS_ENABLE" }, 1));
            Assert.That((code, output.Trim()), Is.EqualTo((0, "[rank 0] nvls=1")));
        }
        finally { Environment.SetEnvironmentVariable("NCCL_NVLS_ENABLE", before); }
    }

    [Test]
    public void TheRanksOfOneLaunchShareAJobIdAndTwoLaunchesDiffer()
    {
        if (DistributedEnv.JobId() is not null) Assert.Ignore("a job id is set in this environment (BCBP_JOB_ID, TORCHELASTIC_RUN_ID, SLURM_JOB_ID)");
        string[] Ids()
        {
            var (code, output, _) = Launch(new LaunchSpec("/bin/sh", new[] { "-c", "echo id=$BCBP_JOB_ID" }, 2));
            Assert.That(code, Is.EqualTo(0));
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l[(l.IndexOf("id=") + 3)..].Trim()).ToArray();
        }
        var first = Ids();
        Assert.That(first, Has.Length.EqualTo(2).And.All.Not.Empty);
        Assert.That(first[1], Is.EqualTo(first[0]), "both ranks of a launch");
        Assert.That(Ids()[0], Is.Not.EqualTo(first[0]), "another launch is another job");
    }

    [Test]
    public void ARankThatFailsStopsTheOthersAndGivesItsExitCode()
    {
        // Rank 1 fails at once; the others would run for ten minutes.
        var (code, _, error) = Launch(new LaunchSpec("/bin/sh", new[] { "-c", "if [ \"$RANK\" = 1 ]; then echo bad >&2; exit 7; fi; sleep 600" }, 3),
            TimeSpan.FromSeconds(1));
        Assert.That(code, Is.EqualTo(7));
        Assert.That(error, Does.Contain("[rank 1] bad").And.Contain("error: rank 1 exited with code 7; stopping the other ranks"));
    }

    [Test]
    public void RankZerosErrorIsReportedWhenAnotherRankNoticedItsFailureFirst()
    {
        // Rank 1 fails first because rank 0 is going down (as a rank does when rank 0's store closes); rank 0 exits
        // with its own error once rank 1's process has gone.
        string flag = Path.Combine(Dir, "rank1.pid");
        string script = $"if [ $RANK = 1 ]; then echo $$ > {flag}.tmp; mv {flag}.tmp {flag}; echo 'the store closed' >&2; exit 7; fi; " +
                        $"while [ ! -e {flag} ]; do sleep 0.05; done; while [ -e /proc/$(cat {flag}) ]; do sleep 0.05; done; " +
                        "echo 'cannot write model.safetensors: disk full' >&2; exit 3";
        var (code, _, error) = Launch(new LaunchSpec("/bin/sh", new[] { "-c", script }, 2), TimeSpan.FromSeconds(120));
        Assert.That(code, Is.EqualTo(3), error);
        Assert.That(error, Does.Contain($"error: rank 0 exited with code 3; its last lines:{Environment.NewLine}[rank 0] cannot write model.safetensors: disk full"));
    }

    /// <summary>The pids of <paramref name="pid"/>'s children (Linux: /proc/PID/task/TID/children).</summary>
    static List<int> ChildrenOf(int pid) => Directory.GetDirectories($"/proc/{pid}/task")
        .SelectMany(t => { try { return File.ReadAllText(Path.Combine(t, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries); } catch (IOException) { return Array.Empty<string>(); } })
        .Select(int.Parse).ToList();

    /// <summary>Gone, or a zombie nobody reaps (a container's init may not): either way no longer running.</summary>
    static bool Dead(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1][0] is 'Z' or 'X'; }
        catch (IOException) { return true; }
        catch (UnauthorizedAccessException) { return true; }
    }

    [TestCase("TERM")]
    [TestCase("HUP")]
    public void ALauncherStoppedByASignalStopsItsRanks(string signal)
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("reads /proc");
        var config = Bcbp.Tests.Runs.TrainingRunTests.TinyConfig(Dir, "long", epochs: 100000);
        string file = Path.Combine(Dir, "long.json");
        ConfigSerializer.Save(config, file);
        string bcbp = Path.Combine(AppContext.BaseDirectory, "bcbp");
        var psi = new System.Diagnostics.ProcessStartInfo(bcbp) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "train", "--config", file, "--threads", "1", "--no-progress", "--gpus", "2" }) psi.ArgumentList.Add(a);
        using var launcher = System.Diagnostics.Process.Start(psi)!;
        launcher.OutputDataReceived += (_, _) => { };
        launcher.ErrorDataReceived += (_, _) => { };
        launcher.BeginOutputReadLine();
        launcher.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddMinutes(2);
        List<int> ranks;
        while ((ranks = ChildrenOf(launcher.Id)).Count < 2 && DateTime.UtcNow < deadline) Thread.Sleep(50);
        Assert.That(ranks, Has.Count.EqualTo(2), "the launcher started its 2 ranks");
        using (var kill = System.Diagnostics.Process.Start("kill", new[] { $"-{signal}", launcher.Id.ToString() })) kill.WaitForExit();
        Assert.That(launcher.WaitForExit(TimeSpan.FromMinutes(2)), Is.True, "the launcher ends on the signal");
        while (!ranks.All(Dead) && DateTime.UtcNow < deadline.AddMinutes(1)) Thread.Sleep(50);
        Assert.That(ranks.Where(r => !Dead(r)), Is.Empty, "no rank outlives its launcher");
    }

    [Test]
    public void BadLaunchOptionsAreOneLineEach()
    {
        Assert.That(Assert.Throws<ArgumentException>(() => new LaunchSpec("x", Array.Empty<string>(), 2, Nodes: 2).Ranks())!.Message,
            Does.StartWith("--nnodes > 1 needs --master-addr"));
        Assert.That(Assert.Throws<ArgumentException>(() => new LaunchSpec("x", Array.Empty<string>(), 2, Nodes: 2, NodeRank: 2, MasterAddr: "h").Ranks())!.Message,
            Is.EqualTo("--node-rank is 2 but --nnodes is 2: it must be in 0..1."));
    }

    [Test]
    public void TrainWithTwoCpuRanksWritesOneRunFolderAndResumesWithOneRank()
    {
        var config = Bcbp.Tests.Runs.TrainingRunTests.TinyConfig(Dir, "ddp", epochs: 2);
        string file = Path.Combine(Dir, "ddp.json");
        ConfigSerializer.Save(config, file);
        string bcbp = Path.Combine(AppContext.BaseDirectory, "bcbp");
        string[] Args(params string[] more) => new[] { "train", "--config", file, "--threads", "1", "--no-progress" }.Concat(more).ToArray();

        // Two ranks for the first epoch: rank 0 stops the job after it (train.epochs=1 in the checkpoint's run).
        var (code, output, error) = Launch(new LaunchSpec(bcbp, Args("--set", "train.epochs=1"), 2));
        Assert.That(code, Is.EqualTo(0), error + output);
        string run = Path.Combine(Dir, "ddp");
        Assert.That(output, Does.Contain("[rank 0]").And.Contain("Data parallel (StoreCollective): 2 ranks, 8 images per rank and step (16 per step)"));
        Assert.That(output, Does.Not.Contain("[rank 1] ddp: top-1"), "rank 0 alone prints and writes the result");
        var first = RunResult.Read(Path.Combine(run, RunResult.FileName));
        Assert.That(first.TestSamples, Is.EqualTo(16), "the test set counted once over the ranks");
        Assert.That(Checkpoint.ReadState(Path.Combine(run, TrainingRun.CheckpointFile)).WorldSize, Is.EqualTo(2));

        // One rank resumes at epoch 2 of 2.
        var (code2, output2, error2) = Launch(new LaunchSpec(bcbp, Args("--resume"), 1));
        Assert.That(code2, Is.EqualTo(0), error2 + output2);
        var state = Checkpoint.ReadState(Path.Combine(run, TrainingRun.CheckpointFile));
        Assert.That(state.History.Select(m => m.Epoch), Is.EqualTo(new[] { 1, 2 }));
        Assert.That(output2, Does.Contain("Resuming dense at epoch 2/2"));
        Assert.That(File.Exists(Path.Combine(run, RunLock.FileName)), Is.False, "the lock is released");
    }
}

using Bcbp.Training.Distributed;

namespace Bcbp.Tests.Distributed;

public class DistributedEnvTests
{
    static DistributedEnv Read(params (string Key, string Value)[] vars)
    {
        var d = vars.ToDictionary(v => v.Key, v => v.Value);
        return DistributedEnv.FromEnvironment(k => d.GetValueOrDefault(k));
    }

    static string Error(params (string, string)[] vars) => Assert.Throws<ArgumentException>(() => Read(vars))!.Message;

    [Test]
    public void NoWorldSizeIsOneProcess()
    {
        Assert.That(Read(), Is.EqualTo(DistributedEnv.Single));
        // RANK alone (a stray variable) does not make a job.
        Assert.That(Read(("RANK", "3"), ("MASTER_ADDR", "h")).IsDistributed, Is.False);
    }

    [Test]
    public void ReadsTorchrunsVariables()
    {
        var env = Read(("MASTER_ADDR", "node0"), ("MASTER_PORT", "1234"), ("WORLD_SIZE", "8"), ("RANK", "5"), ("LOCAL_RANK", "1"),
                       ("LOCAL_WORLD_SIZE", "4"));
        Assert.That(env, Is.EqualTo(new DistributedEnv("node0", 1234, 8, 5, 1, 4)));
        Assert.That(env.IsDistributed && !env.IsMain);
        // What the launcher sets reads back the same.
        var again = DistributedEnv.FromEnvironment(k => env.ToVariables().GetValueOrDefault(k));
        Assert.That(again, Is.EqualTo(env));
    }

    [Test]
    public void FallsBackToSlurmsVariables()
    {
        var env = Read(("MASTER_ADDR", "n1"), ("SLURM_NTASKS", "16"), ("SLURM_PROCID", "9"), ("SLURM_LOCALID", "1"), ("SLURM_NTASKS_PER_NODE", "8(x2)"));
        Assert.That(env, Is.EqualTo(new DistributedEnv("n1", DistributedEnv.DefaultPort, 16, 9, 1, 8)));
        // torchrun's names win when both are set (torchrun inside a Slurm allocation).
        Assert.That(Read(("WORLD_SIZE", "2"), ("RANK", "1"), ("LOCAL_RANK", "1"), ("MASTER_ADDR", "a"), ("SLURM_NTASKS", "1")).WorldSize, Is.EqualTo(2));
    }

    [Test]
    public void EachProblemIsOneLineNamingTheVariable()
    {
        Assert.That(Error(("WORLD_SIZE", "2"), ("RANK", "2"), ("LOCAL_RANK", "0"), ("MASTER_ADDR", "a")),
            Is.EqualTo("RANK is 2 but WORLD_SIZE is 2: the rank must be in 0..1."));
        Assert.That(Error(("WORLD_SIZE", "2"), ("RANK", "1"), ("LOCAL_RANK", "0")), Does.StartWith("MASTER_ADDR is not set (WORLD_SIZE is 2)"));
        Assert.That(Error(("WORLD_SIZE", "two")), Does.StartWith("WORLD_SIZE is 'two': it must be"));
        Assert.That(Error(("WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "0"), ("MASTER_ADDR", "a"), ("MASTER_PORT", "70000")),
            Does.StartWith("MASTER_PORT is '70000'"));
        // Several problems: one line each.
        var lines = Error(("WORLD_SIZE", "4")).Split(Environment.NewLine);
        Assert.That(lines, Has.Length.EqualTo(3));
        Assert.That(lines.Select(l => l.Split(' ')[0]), Is.EquivalentTo(new[] { "RANK", "LOCAL_RANK", "MASTER_ADDR" }));
    }

    [Test]
    public void StoreTimeoutComesFromTheEnvironment()
    {
        Assert.That(ProcessGroup.Timeout(null), Is.EqualTo(TimeSpan.FromSeconds(600)));
        Assert.That(ProcessGroup.Timeout("2.5"), Is.EqualTo(TimeSpan.FromSeconds(2.5)));
        Assert.That(Assert.Throws<ArgumentException>(() => ProcessGroup.Timeout("-1"))!.Message, Does.StartWith("BCBP_DIST_TIMEOUT is '-1'"));
    }

    [Test]
    public void ARankTrainsOnItsLocalRanksGpuOrItsOnlyVisibleOne()
    {
        var rank3 = new DistributedEnv("node0", 29500, 8, 3, 3, 4);
        Assert.That(DistributedEnv.DeviceOf("cuda", rank3, null, () => 4), Is.EqualTo("cuda:3"), "every rank sees the node's GPUs");
        Assert.That(DistributedEnv.DeviceOf("cuda:1", rank3, null, () => 8), Is.EqualTo("cuda:3"));
        Assert.That(DistributedEnv.DeviceOf("auto", rank3, null, () => 4), Is.EqualTo("cuda:3"));
        Assert.That(DistributedEnv.DeviceOf("cuda", rank3, null, () => 1), Is.EqualTo("cuda:0"), "one GPU per rank (srun --gpus-per-task=1)");
        Assert.That(DistributedEnv.DeviceOf("cpu", rank3, null, () => 4), Is.EqualTo("cpu"));
        Assert.That(DistributedEnv.DeviceOf("cuda:2", DistributedEnv.Single, null, () => 4), Is.EqualTo("cuda:2"), "one process: unchanged");
        var e = Assert.Throws<ArgumentException>(() => DistributedEnv.DeviceOf("cuda", rank3, null, () => 2))!;
        Assert.That(e.Message, Does.StartWith("LOCAL_RANK is 3 but this process sees 2 CUDA device(s) (CUDA_VISIBLE_DEVICES is ")
            .And.Contain("srun --gpus-per-task=1").And.Not.Contain("\n"));
    }
}

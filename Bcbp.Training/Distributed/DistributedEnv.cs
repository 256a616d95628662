using System.Globalization;

namespace Bcbp.Training.Distributed;

/// <summary>
/// Where this process sits in a data-parallel job, read from the environment as torchrun sets it (<c>MASTER_ADDR</c>,
/// <c>MASTER_PORT</c>, <c>WORLD_SIZE</c>, <c>RANK</c>, <c>LOCAL_RANK</c>, <c>LOCAL_WORLD_SIZE</c>), or, without
/// <c>WORLD_SIZE</c>, as Slurm's <c>srun</c> sets it (<c>SLURM_NTASKS</c>, <c>SLURM_PROCID</c>, <c>SLURM_LOCALID</c>),
/// so a job runs under torchrun-style launchers, <c>srun</c> or Kubernetes the way PyTorch jobs do.
/// <c>bcbp train --gpus N</c> sets these for its children (<see cref="ProcessLauncher"/>).
/// </summary>
/// <param name="MasterAddr">Host of rank 0, which serves the rendezvous store (<see cref="TcpStore"/>).</param>
/// <param name="MasterPort">Port of the rendezvous store.</param>
/// <param name="WorldSize">Processes in the job (one per GPU).</param>
/// <param name="Rank">This process's rank in 0..WorldSize-1; rank 0 owns the run folder.</param>
/// <param name="LocalRank">This process's rank on its node: its CUDA device.</param>
/// <param name="LocalWorldSize">Processes on this node.</param>
public sealed record DistributedEnv(string MasterAddr, int MasterPort, int WorldSize, int Rank, int LocalRank, int LocalWorldSize)
{
    /// <summary>torchrun's default port of the rendezvous store.</summary>
    public const int DefaultPort = 29500;

    /// <summary>A job of one process (no rendezvous, no collective): the plain trainer.</summary>
    public static DistributedEnv Single { get; } = new("127.0.0.1", DefaultPort, 1, 0, 0, 1);

    /// <summary>The variable <see cref="ProcessLauncher"/> sets to the job's id (one node; a user may set it for jobs of
    /// several nodes).</summary>
    public const string JobIdVariable = "BCBP_JOB_ID";

    /// <summary>The job's id as the launcher names it: <c>BCBP_JOB_ID</c>, else torchrun's <c>TORCHELASTIC_RUN_ID</c>,
    /// else Slurm's <c>SLURM_JOB_ID</c>; null when none is set (rank 0 then makes one and the others learn it when they
    /// connect). The rendezvous store prefixes its keys with it and refuses a client of another job
    /// (<see cref="TcpStore.Connect"/>), so a second job on the same MASTER_PORT cannot join the first.</summary>
    public static string? JobId(Func<string, string?>? variable = null)
    {
        variable ??= Environment.GetEnvironmentVariable;
        return new[] { JobIdVariable, "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID" }.Select(variable).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));
    }

    /// <summary>More than one process: gradients, buffers and metrics go through a collective.</summary>
    public bool IsDistributed => WorldSize > 1;

    /// <summary><c>BCBP_DIST_FORCE=1</c>: a job of one process still trains through its collective (all-reduce,
    /// broadcasts, NCCL on CUDA), to check that world size 1 through the collective gives the plain trainer's weights
    /// (experiments/bench/nccl_world1.sh). Without it one process trains without any collective.</summary>
    public static bool ForceCollective => Environment.GetEnvironmentVariable("BCBP_DIST_FORCE") == "1";

    /// <summary>In a job of several ranks each process trains on its own GPU, the one of its local rank (as torchrun
    /// scripts call torch.cuda.set_device(LOCAL_RANK)): <c>cuda</c>, <c>cuda:N</c> and <c>auto</c> become
    /// <c>cuda:LOCAL_RANK</c> (auto stays the CPU where CUDA is missing), or <c>cuda:0</c> when the process sees one
    /// device only (<c>srun --gpus-per-task=1</c>, or a launcher that sets CUDA_VISIBLE_DEVICES per rank). One process
    /// (or no env): <paramref name="device"/>.</summary>
    /// <param name="device">The config's device.</param>
    /// <param name="env">The job; null or one process: no change.</param>
    /// <param name="libTorchDir">The libtorch to load to count the devices.</param>
    /// <param name="visibleDevices">Counts the CUDA devices this process sees; null: libtorch's (tests inject one).</param>
    /// <exception cref="ArgumentException">LOCAL_RANK is not below the number of visible devices (but more than one):
    /// one line with the fix.</exception>
    public static string DeviceOf(string device, DistributedEnv? env, string? libTorchDir, Func<int>? visibleDevices = null)
    {
        if (env is not { IsDistributed: true }) return device;
        bool cuda = device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        if (!cuda && device.Equals("auto", StringComparison.OrdinalIgnoreCase))
        {
            if (visibleDevices is null && Backend.TorchBackend.Initialize("auto", libTorchDir).type != TorchSharp.DeviceType.CUDA) return "cpu";
            cuda = true;
        }
        if (!cuda) return device;
        int visible = (visibleDevices ?? (() =>
        {
            Backend.TorchBackend.Initialize("cuda", libTorchDir);
            return TorchSharp.torch.cuda.device_count();
        }))();
        if (visible == 1) return "cuda:0";
        if (env.LocalRank >= visible)
            throw new ArgumentException($"LOCAL_RANK is {env.LocalRank} but this process sees {visible} CUDA device(s) (CUDA_VISIBLE_DEVICES is " +
                $"'{Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES") ?? "unset"}'): a rank trains on GPU LOCAL_RANK of the node's " +
                "GPUs, or on its only visible GPU. Fix: let every rank see all the node's GPUs (unset CUDA_VISIBLE_DEVICES or list them " +
                "all), or each rank exactly one (srun --gpus-per-task=1, or CUDA_VISIBLE_DEVICES=$LOCAL_RANK in each rank).");
        return $"cuda:{env.LocalRank}";
    }

    /// <summary>Rank 0: the process that locks and writes the run folder.</summary>
    public bool IsMain => Rank == 0;

    /// <summary>The variables this record stands for, as <see cref="FromEnvironment()"/> reads them (the launcher sets
    /// them in its children).</summary>
    public IReadOnlyDictionary<string, string> ToVariables() => new Dictionary<string, string>
    {
        ["MASTER_ADDR"] = MasterAddr, ["MASTER_PORT"] = Inv(MasterPort), ["WORLD_SIZE"] = Inv(WorldSize), ["RANK"] = Inv(Rank),
        ["LOCAL_RANK"] = Inv(LocalRank), ["LOCAL_WORLD_SIZE"] = Inv(LocalWorldSize),
    };

    /// <summary>Reads the process's environment; <see cref="Single"/> when no world size is set.</summary>
    public static DistributedEnv FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>Reads the variables through <paramref name="get"/> (null: unset). Without <c>WORLD_SIZE</c> and
    /// <c>SLURM_NTASKS</c> the job is one process (<see cref="Single"/>), whatever else is set.</summary>
    /// <exception cref="ArgumentException">A variable is malformed or out of range: one line per problem, each naming
    /// the variable and the fix.</exception>
    public static DistributedEnv FromEnvironment(Func<string, string?> get)
    {
        var errors = new List<string>();
        bool torchrun = !string.IsNullOrEmpty(get("WORLD_SIZE"));
        bool slurm = !torchrun && !string.IsNullOrEmpty(get("SLURM_NTASKS"));
        if (!torchrun && !slurm) return Single;
        string worldName = torchrun ? "WORLD_SIZE" : "SLURM_NTASKS", rankName = torchrun ? "RANK" : "SLURM_PROCID";
        string localName = torchrun ? "LOCAL_RANK" : "SLURM_LOCALID";
        string localWorldName = torchrun ? "LOCAL_WORLD_SIZE" : "SLURM_NTASKS_PER_NODE";

        int world = Int(get, worldName, 1, int.MaxValue, null, errors, "the number of processes of the job (>= 1)");
        int rank = Int(get, rankName, 0, int.MaxValue, world > 1 ? null : 0, errors, "this process's rank, 0..world size - 1");
        int local = Int(get, localName, 0, int.MaxValue, world > 1 ? null : 0, errors, "this process's GPU on its node (0, 1, ...)");
        // Slurm writes SLURM_NTASKS_PER_NODE as "8" or "8(x2)"; only the count before "(" matters.
        string? localWorldText = get(localWorldName)?.Split('(')[0];
        int localWorld = Int(_ => localWorldText, localWorldName, 1, int.MaxValue, Math.Max(world, 1), errors, "the processes on this node (>= 1)");
        if (world >= 1 && rank >= world && errors.Count == 0)
            errors.Add($"{rankName} is {rank} but {worldName} is {world}: the rank must be in 0..{world - 1}.");
        if (local >= localWorld && errors.Count == 0)
            errors.Add($"{localName} is {local} but {localWorldName} is {localWorld}: the local rank must be in 0..{localWorld - 1}.");

        string addr = get("MASTER_ADDR") ?? "";
        if (world > 1 && string.IsNullOrWhiteSpace(addr))
            errors.Add($"MASTER_ADDR is not set ({worldName} is {world}): set it to rank 0's host name or address " +
                       "(under Slurm: export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)).");
        if (string.IsNullOrWhiteSpace(addr)) addr = "127.0.0.1";
        int port = Int(get, "MASTER_PORT", 1, 65535, DefaultPort, errors, "the TCP port of rank 0's rendezvous store (1..65535, torchrun's default 29500)");
        if (errors.Count > 0) throw new ArgumentException(string.Join(Environment.NewLine, errors));
        return new DistributedEnv(addr.Trim(), port, world, rank, local, localWorld);
    }

    static int Int(Func<string, string?> get, string name, int min, int max, int? fallback, List<string> errors, string meaning)
    {
        string? text = get(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            if (fallback is { } f) return f;
            errors.Add($"{name} is not set: it must be {meaning}.");
            return min;
        }
        if (!int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
        {
            errors.Add($"{name} is '{text}': it must be {meaning}.");
            return min;
        }
        return v;
    }

    static string Inv(int v) => v.ToString(CultureInfo.InvariantCulture);
}

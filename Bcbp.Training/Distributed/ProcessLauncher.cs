using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Bcbp.Training.Distributed;

/// <summary>What <see cref="ProcessLauncher"/> starts: <see cref="ProcsPerNode"/> copies of a command on this node,
/// as ranks NodeRank * ProcsPerNode + i of a job of Nodes * ProcsPerNode (torchrun's --nproc-per-node, --nnodes,
/// --node-rank, --master-addr, --master-port).</summary>
/// <param name="Executable">The program to start (bcbp itself: <see cref="ProcessLauncher.Self"/>).</param>
/// <param name="Arguments">Its arguments, the same for every rank.</param>
/// <param name="ProcsPerNode">Processes on this node, one per GPU; local rank i uses GPU i.</param>
/// <param name="Nodes">Nodes of the job.</param>
/// <param name="NodeRank">This node's index, 0..Nodes-1; node 0 hosts rank 0 and its store.</param>
/// <param name="MasterAddr">Rank 0's host; null: 127.0.0.1 for one node (required for several).</param>
/// <param name="MasterPort">The store's port; null: a free port for one node, 29500 for several.</param>
public sealed record LaunchSpec(string Executable, IReadOnlyList<string> Arguments, int ProcsPerNode, int Nodes = 1, int NodeRank = 0,
                                string? MasterAddr = null, int? MasterPort = null)
{
    /// <summary>The environment of each local rank (<see cref="DistributedEnv.ToVariables"/>).</summary>
    /// <exception cref="ArgumentException">Inconsistent counts, or several nodes without a master address.</exception>
    public IReadOnlyList<DistributedEnv> Ranks()
    {
        if (ProcsPerNode < 1) throw new ArgumentException($"--gpus must be at least 1, got {ProcsPerNode}.");
        if (Nodes < 1) throw new ArgumentException($"--nnodes must be at least 1, got {Nodes}.");
        if (NodeRank < 0 || NodeRank >= Nodes) throw new ArgumentException($"--node-rank is {NodeRank} but --nnodes is {Nodes}: it must be in 0..{Nodes - 1}.");
        if (Nodes > 1 && string.IsNullOrWhiteSpace(MasterAddr))
            throw new ArgumentException("--nnodes > 1 needs --master-addr (or MASTER_ADDR): the host of node 0, reachable from every node.");
        if (MasterPort is { } p && (p < 1 || p > 65535)) throw new ArgumentException($"--master-port must be in 1..65535, got {p}.");
        string addr = string.IsNullOrWhiteSpace(MasterAddr) ? "127.0.0.1" : MasterAddr!;
        int port = MasterPort ?? (Nodes == 1 ? FreePort() : DistributedEnv.DefaultPort);
        int world = Nodes * ProcsPerNode;
        return Enumerable.Range(0, ProcsPerNode)
            .Select(i => new DistributedEnv(addr, port, world, NodeRank * ProcsPerNode + i, i, ProcsPerNode)).ToList();
    }

    /// <summary>A port nothing listens on right now (one node: no fixed port to collide with another job's).</summary>
    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}

/// <summary>
/// Starts the ranks of this node as child processes (what <c>torchrun --nproc-per-node N</c> does for PyTorch): each
/// gets MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, NCCL_NVLS_ENABLE=0 (unless set) and, on one node, BCBP_JOB_ID (unless set); their output
/// lines come back prefixed by <c>[rank R]</c>. Fails fast: when one rank exits with an error, the others get a few
/// seconds to exit on their own, then are killed (they would wait for it forever inside NCCL), and the launcher returns
/// rank 0's exit code when rank 0 failed (repeating its last lines), else that first failure's.
/// </summary>
public static class ProcessLauncher
{
    /// <summary>This program as a command line: the apphost, or <c>dotnet bcbp.dll</c>.</summary>
    public static (string Executable, IReadOnlyList<string> Prefix) Self()
    {
        string path = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this program's path to start its ranks.");
        if (Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            return (path, new[] { typeof(ProcessLauncher).Assembly.Location });
        return (path, Array.Empty<string>());
    }

    /// <summary>How long the other ranks get to exit on their own after the first failure before they are killed: a
    /// rank that fails because rank 0 failed first (the store closed) must not hide rank 0's own error.</summary>
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromSeconds(10);

    /// <summary>Lines of each rank's output kept to repeat rank 0's when it failed.</summary>
    const int TailLines = 20;

    /// <summary>Runs <paramref name="spec"/>'s ranks to the end; returns 0 when all succeeded, else rank 0's exit code
    /// when it failed (the root cause, usually: the others then fail on the closed store), else the first failure's.
    /// After the first failure the others get <paramref name="grace"/> (<see cref="DefaultGrace"/>) to exit on their own,
    /// then are killed. Lines go to <paramref name="output"/> (stdout) and <paramref name="error"/> (stderr).</summary>
    public static int Run(LaunchSpec spec, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string>? extraEnv = null,
        TimeSpan? grace = null)
    {
        var ranks = spec.Ranks();
        // One node: the job's id for the store (a second job on the same MASTER_PORT is refused); several nodes share
        // one only when the user (BCBP_JOB_ID) or the scheduler (SLURM_JOB_ID) gives it, else rank 0 makes it.
        string? jobId = DistributedEnv.JobId() ?? (spec.Nodes == 1 ? Guid.NewGuid().ToString("N") : null);
        var children = new List<(DistributedEnv Env, Process Process)>();
        var tails = new Dictionary<int, Queue<string>>();
        var sync = new object();
        (int Rank, int Code)? firstFailure = null;
        int? rootCode = null; // rank 0's exit code when it exited on its own (not killed by us)
        var exited = new SemaphoreSlim(0);
        // The launcher stopped by a signal (scancel, a closed terminal, kill) stops its ranks first: they would run on
        // as orphans holding the GPUs. The signal's default then ends the launcher.
        void OnSignal(PosixSignalContext context)
        {
            lock (sync) error.WriteLine($"error: the launcher got {context.Signal}; stopping the ranks");
            lock (children) KillAll(children);
        }
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);
        try
        {
            foreach (var env in ranks)
            {
                var psi = new ProcessStartInfo(spec.Executable)
                {
                    UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = false,
                };
                foreach (var a in spec.Arguments) psi.ArgumentList.Add(a);
                foreach (var (k, v) in env.ToVariables()) psi.Environment[k] = v;
                // NVLink multicast off, unless the user chose (their value is inherited and kept).
                if (string.IsNullOrEmpty(psi.Environment.TryGetValue("NCCL_NVLS_ENABLE", out var nvls) ? nvls : null))
                    psi.Environment["NCCL_NVLS_ENABLE"] = "0";
                if (jobId is not null && string.IsNullOrEmpty(psi.Environment.TryGetValue(DistributedEnv.JobIdVariable, out var job) ? job : null))
                    psi.Environment[DistributedEnv.JobIdVariable] = jobId;
                foreach (var (k, v) in extraEnv ?? new Dictionary<string, string>()) psi.Environment[k] = v;
                var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
                string prefix = $"[rank {env.Rank}] ";
                var tail = tails[env.Rank] = new Queue<string>();
                void Keep(string line) { tail.Enqueue(line); if (tail.Count > TailLines) tail.Dequeue(); }
                p.OutputDataReceived += (_, e) => { if (e.Data is { } line) lock (sync) { output.WriteLine(prefix + line); Keep(line); } };
                p.ErrorDataReceived += (_, e) => { if (e.Data is { } line) lock (sync) { error.WriteLine(prefix + line); Keep(line); } };
                p.Exited += (_, _) => exited.Release();
                lock (children)
                {
                    p.Start();
                    children.Add((env, p));
                }
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
            }
            for (int done = 0; done < children.Count && firstFailure is null; done++)
            {
                exited.Wait();
                foreach (var (env, p) in children)
                {
                    if (!p.HasExited || firstFailure is not null) continue;
                    p.WaitForExit(); // drains the output readers
                    if (p.ExitCode == 0) continue;
                    firstFailure = (env.Rank, p.ExitCode);
                    lock (sync) error.WriteLine($"error: rank {env.Rank} exited with code {p.ExitCode}; stopping the other ranks");
                }
            }
            if (firstFailure is not null)
            {
                // The others usually follow within seconds (the store closed, NCCL aborted); then the rest are killed.
                var deadline = DateTime.UtcNow + (grace ?? DefaultGrace);
                foreach (var (_, p) in children)
                {
                    var left = deadline - DateTime.UtcNow;
                    if (left > TimeSpan.Zero) p.WaitForExit(left);
                }
                if (children.FirstOrDefault(c => c.Env.Rank == 0) is { Process: { } root } && root.HasExited) rootCode = root.ExitCode;
                lock (children) KillAll(children);
            }
            foreach (var (_, p) in children) p.WaitForExit();
        }
        finally
        {
            lock (children)
            {
                KillAll(children);
                foreach (var (_, p) in children) p.Dispose();
            }
        }
        int code = firstFailure?.Code ?? 0;
        // Rank 0's failure is the one to report (the others' usually follow from it), with its last lines, which
        // the other ranks' lines may have buried.
        if (rootCode is { } rc and not 0)
        {
            code = rc;
            lock (sync)
            {
                error.WriteLine($"error: rank 0 exited with code {rc}; its last lines:");
                foreach (var line in tails[0]) error.WriteLine("[rank 0] " + line);
            }
        }
        output.Flush();
        error.Flush();
        return code;
    }

    static void KillAll(IEnumerable<(DistributedEnv Env, Process Process)> children)
    {
        foreach (var (_, p) in children)
        {
            try { if (!p.HasExited) p.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { } // exited meanwhile
        }
    }
}

/// <summary>One child process whose output lines come back with a prefix (a suite cell on its GPU).</summary>
public static class ChildProcess
{
    /// <summary>Runs <paramref name="executable"/> to its end; returns its exit code.</summary>
    public static int Run(string executable, IEnumerable<string> arguments, string prefix, TextWriter output, TextWriter error)
    {
        var psi = new ProcessStartInfo(executable) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        // A cell is a job of its own, whatever job this process belongs to.
        foreach (var k in new[] { "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID" })
            psi.Environment.Remove(k);
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is { } line) lock (output) output.WriteLine(prefix + line); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is { } line) lock (error) error.WriteLine(prefix + line); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        p.WaitForExit();
        return p.ExitCode;
    }
}

using System.CommandLine;
using System.CommandLine.Parsing;
using Bcbp.Training.Distributed;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>--gpus N</c>, <c>--nnodes M</c>, <c>--node-rank R</c>, <c>--master-addr HOST</c>, <c>--master-port P</c> of
/// <c>bcbp train</c> (torchrun's options): with <c>--gpus</c> the command starts N ranks of itself on this node instead
/// of training (<see cref="ProcessLauncher"/>); the ranks get the same command line without these options.
/// <c>--master-addr</c>/<c>--master-port</c> default to MASTER_ADDR/MASTER_PORT when those are set.
/// </summary>
public sealed class LaunchOptions
{
    public Option<int?> Gpus { get; } = CliOptions.OptionalInt("--gpus",
        "start one rank per GPU on this node (like torchrun --nproc-per-node N): data-parallel training over NCCL (docs/distributed.md)");
    public Option<int?> Nodes { get; } = CliOptions.OptionalInt("--nnodes", "nodes of the job, each running bcbp train --gpus N (default 1)");
    public Option<int?> NodeRank { get; } = CliOptions.OptionalInt("--node-rank", "this node's index, 0..nnodes-1 (default 0)", min: 0);
    public Option<string?> MasterAddr { get; } = new("--master-addr")
    {
        Description = "host of node 0 (rank 0's rendezvous store); default MASTER_ADDR, else 127.0.0.1 for one node", HelpName = "HOST",
    };
    public Option<int?> MasterPort { get; } = CliOptions.OptionalInt("--master-port", "the store's TCP port (default MASTER_PORT, else a free port for one node, 29500 for several)");

    Option[] All => new Option[] { Gpus, Nodes, NodeRank, MasterAddr, MasterPort };

    public void AddTo(Command command)
    {
        foreach (var o in All) command.Options.Add(o);
    }

    /// <summary>Whether the line asks to launch ranks.</summary>
    public bool Launches(ParseResult p) => p.GetValue(Gpus) is not null || p.GetValue(Nodes) is not null || p.GetValue(NodeRank) is not null;

    /// <summary>The launch of the parsed line: this program with the line's tokens minus the launch options.</summary>
    public LaunchSpec Spec(ParseResult p)
    {
        var (exe, prefix) = ProcessLauncher.Self();
        var names = All.SelectMany(o => o.Aliases.Append(o.Name)).ToHashSet();
        var args = new List<string>(prefix);
        bool skipping = false;
        foreach (var t in p.Tokens)
        {
            if (t.Type == TokenType.Option) skipping = names.Contains(t.Value);
            else if (t.Type != TokenType.Argument) skipping = false;
            if (!skipping) args.Add(t.Value);
        }
        int? port = p.GetValue(MasterPort);
        if (port is null && int.TryParse(Environment.GetEnvironmentVariable("MASTER_PORT"), out var envPort)) port = envPort;
        return new LaunchSpec(exe, args, p.GetValue(Gpus) ?? 1, p.GetValue(Nodes) ?? 1, p.GetValue(NodeRank) ?? 0,
            p.GetValue(MasterAddr) ?? Environment.GetEnvironmentVariable("MASTER_ADDR"), port);
    }
}

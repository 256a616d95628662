using System.CommandLine;
using Bcbp.Training.Backend;
using TorchSharp;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>--device</c>, <c>--libtorch</c> and <c>--threads</c>, shared by every command that runs a model, with one
/// default rule: the device given, else the config's or run's <c>device</c>, else <c>auto</c> (CUDA when a CUDA
/// libtorch loads, else the CPU).
/// </summary>
public sealed class DeviceOptions
{
    public Option<string?> Device { get; } = new("--device")
    {
        Description = "cpu, cuda, cuda:N or auto (default: the config's or run's device, else auto)", HelpName = "DEVICE",
        Validators =
        {
            r =>
            {
                var v = r.GetValueOrDefault<string?>();
                if (v is not null && !System.Text.RegularExpressions.Regex.IsMatch(v, @"^(cpu|auto|cuda(:\d+)?)$"))
                    r.AddError($"--device expects cpu, cuda, cuda:N or auto, got '{v}'");
            },
        },
    };

    public Option<string?> LibTorch { get; } = new("--libtorch")
    {
        Description = "libtorch folder of a PyTorch install, for CUDA (default: $BCBP_LIBTORCH, then python3's torch)", HelpName = "DIR",
    };

    public Option<int?> Threads { get; } = CliOptions.OptionalInt("--threads", "CPU threads for libtorch (default: libtorch's own choice)");

    /// <summary>Adds the three options to <paramref name="command"/>.</summary>
    public Command AddTo(Command command)
    {
        command.Options.Add(Device);
        command.Options.Add(LibTorch);
        command.Options.Add(Threads);
        return command;
    }

    /// <summary>The device by the one rule (<paramref name="configDevice"/>: the config's or run's device, if any).</summary>
    public string DeviceName(ParseResult p, string? configDevice = null) => p.GetValue(Device) ?? configDevice ?? "auto";

    /// <summary>Loads libtorch for the device by the one rule, applies --threads and returns the device (a rank of a
    /// data-parallel <paramref name="env"/>: its local rank's GPU, <see cref="Bcbp.Training.Distributed.DistributedEnv.DeviceOf"/>).</summary>
    public torch.Device Initialize(ParseResult p, string? configDevice = null, Bcbp.Training.Distributed.DistributedEnv? env = null)
    {
        string name = Bcbp.Training.Distributed.DistributedEnv.DeviceOf(DeviceName(p, configDevice), env, p.GetValue(LibTorch));
        var device = TorchBackend.Initialize(name, p.GetValue(LibTorch));
        TorchBackend.SetCpuThreads(p.GetValue(Threads));
        return device;
    }
}

using System.CommandLine;
using Bcbp.Training.Backend;
using Bcbp.Training.Inference;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp verify</c>: checks every kernel against the dense TorchSharp result (masked weight, fp32) on random and
/// ResNet/VGG layer shapes, BCBP (random and magnitude-pruned) and block masks, fp16 and bf16, both conv fetch paths
/// and the linear path. Without a GPU it checks the CPU references and packing and says the GPU checks were skipped.
/// Exit code 1 on any mismatch.
/// </summary>
public sealed class VerifyCommand : ICliCommand
{
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("verify", "check every sparse format and kernel against the dense TorchSharp result; exit 1 on a mismatch " +
                                            "(without a GPU: the CPU references and packing)");
        _device.AddTo(command);
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        var device = _device.Initialize(p);
        var (_, failures, summary) = KernelVerification.Run(device, Console.WriteLine);
        Console.WriteLine(summary);
        return failures == 0 ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }
}

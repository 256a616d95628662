using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models;

/// <summary>
/// Weight initialisation as torchvision does it, so a freshly built model starts from the same distribution
/// as its torchvision counterpart (convs: Kaiming normal, fan_out, ReLU gain; batch norm: weight 1, bias 0).
/// </summary>
public static class TorchvisionInit
{
    /// <summary>Kaiming-normal (fan_out, ReLU) conv weights, zero conv biases, BN weight 1 / bias 0.</summary>
    /// <param name="module">The model whose submodules are initialised in place.</param>
    /// <param name="linearNormalStd">
    /// When set, linear weights are drawn from N(0, std) with zero bias (torchvision VGG uses 0.01);
    /// when null, linear layers keep PyTorch's default init (torchvision ResNet).
    /// </param>
    public static void Apply(nn.Module module, double? linearNormalStd = null)
    {
        using var noGrad = torch.no_grad();
        foreach (var (_, m) in module.named_modules())
        {
            switch (m)
            {
                case Conv2d conv:
                    Conv(conv);
                    break;
                case BatchNorm2d bn:
                    nn.init.ones_(bn.weight);
                    nn.init.zeros_(bn.bias);
                    break;
                case Linear linear when linearNormalStd is double std:
                    nn.init.normal_(linear.weight, 0.0, std);
                    if (linear.bias is not null) nn.init.zeros_(linear.bias);
                    break;
            }
        }
    }

    /// <summary>Kaiming-normal (fan_out, ReLU) weight and zero bias of one conv.</summary>
    public static void Conv(Conv2d conv)
    {
        using var noGrad = torch.no_grad();
        nn.init.kaiming_normal_(conv.weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
        if (conv.bias is not null) nn.init.zeros_(conv.bias);
    }
}

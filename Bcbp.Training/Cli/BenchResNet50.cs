using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Cli;

/// <summary>
/// torchvision's ResNet-50 (v1.5) for the end-to-end bench, with every conv and BN field typed
/// <c>nn.Module&lt;Tensor, Tensor&gt;</c> so that <c>SparseConversion</c> can swap in sparse modules. A stand-in until
/// Bcbp.Models' fields accept sparse modules (docs/kernels.md); weights are random (speed only).
/// </summary>
internal sealed class BenchResNet50 : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> conv1 = nn.Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false);
    private nn.Module<Tensor, Tensor> bn1 = nn.BatchNorm2d(64);
    private nn.Module<Tensor, Tensor> layer1, layer2, layer3, layer4;
    private nn.Module<Tensor, Tensor> fc = nn.Linear(2048, 1000);

    public BenchResNet50() : base("ResNet50")
    {
        long inplanes = 64;
        nn.Module<Tensor, Tensor> Layer(long planes, int blocks, long stride)
        {
            var list = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int i = 0; i < blocks; i++)
            {
                list.Add(($"{i}", new Block(inplanes, planes, i == 0 ? stride : 1, i == 0)));
                inplanes = planes * 4;
            }
            return nn.Sequential(list);
        }
        layer1 = Layer(64, 3, 1); layer2 = Layer(128, 4, 2); layer3 = Layer(256, 6, 2); layer4 = Layer(512, 3, 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        x = nn.functional.max_pool2d(bn1.forward(conv1.forward(x)).relu_(), 3, 2, 1);
        x = layer4.forward(layer3.forward(layer2.forward(layer1.forward(x))));
        return fc.forward(x.mean(new long[] { 2, 3 }));
    }

    sealed class Block : nn.Module<Tensor, Tensor>
    {
        private nn.Module<Tensor, Tensor> conv1, bn1, conv2, bn2, conv3, bn3;
        private nn.Module<Tensor, Tensor>? downsample;

        public Block(long inplanes, long planes, long stride, bool project) : base("Bottleneck")
        {
            conv1 = nn.Conv2d(inplanes, planes, 1, bias: false); bn1 = nn.BatchNorm2d(planes);
            conv2 = nn.Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false); bn2 = nn.BatchNorm2d(planes);
            conv3 = nn.Conv2d(planes, planes * 4, 1, bias: false); bn3 = nn.BatchNorm2d(planes * 4);
            if (project)
                downsample = nn.Sequential(("0", nn.Conv2d(inplanes, planes * 4, 1, stride: stride, bias: false)), ("1", nn.BatchNorm2d(planes * 4)));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var identity = downsample is null ? x : downsample.forward(x);
            var o = bn1.forward(conv1.forward(x)).relu_();
            o = bn2.forward(conv2.forward(o)).relu_();
            o = bn3.forward(conv3.forward(o));
            return o.add_(identity).relu_();
        }
    }
}

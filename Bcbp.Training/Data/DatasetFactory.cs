using Bcbp.Training.Config;
using static TorchSharp.torch;

namespace Bcbp.Training.Data;

/// <summary>Builds the train and test splits named by the <c>data</c> section.</summary>
public static class DatasetFactory
{
    public static (IBatchSource Train, IBatchSource Test) Create(DataConfig config, Device device, int seed)
        => throw new NotImplementedException("data readers land with the data work");
}

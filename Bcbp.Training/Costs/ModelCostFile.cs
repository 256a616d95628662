using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Training.Config;
using Bcbp.Training.Json;

namespace Bcbp.Training.Costs;

/// <summary>Counts the cost of the model a run saved (architecture from its config, masks from its weights file) at
/// the dataset's input size, and writes it as <c>cost.json</c> in the run folder.</summary>
public static class ModelCostFile
{
    /// <summary>Side of the images the model sees: <c>data.image_size</c>, else the dataset's own.</summary>
    public static int InputSize(DataConfig data) => data.ImageSize > 0 ? data.ImageSize : DatasetCatalog.Get(data.Dataset).NativeSize;

    public static ModelCost Write(string runDir, ExperimentConfig config, string modelFile)
    {
        using var model = MaskedModel.Load(config.Model.Arch, config.Model.NumClasses, config.Model.InChannels, Path.Combine(runDir, modelFile));
        int size = InputSize(config.Data);
        var cost = CostCounter.Count(model, new long[] { config.Model.InChannels, size, size });
        OutputJson.Write(Path.Combine(runDir, ModelCost.FileName), cost);
        return cost;
    }
}

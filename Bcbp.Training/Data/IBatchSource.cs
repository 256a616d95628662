using static TorchSharp.torch;

namespace Bcbp.Training.Data;

/// <summary>A split of a dataset that yields (input, target) batches on the training device.</summary>
public interface IBatchSource
{
    /// <summary>Number of examples.</summary>
    int Count { get; }
    int NumClasses { get; }
    int Channels { get; }
    /// <summary>Height and width of the images the model sees.</summary>
    (int Height, int Width) ImageSize { get; }
    /// <summary>Batches of one epoch. <paramref name="epoch"/> seeds shuffling and augmentation, so a resumed run sees
    /// the same order. Inputs are float32 [B, C, H, W] normalized (image folders: with channels_last strides, NHWC in
    /// memory, see <see cref="BatchLayout"/>); targets int64 [B]. A batch's tensors belong to the
    /// source: it disposes them when the next batch is asked for (Clone() to keep one longer; do not ToList() the
    /// batches). The last batch of an enumeration is left to the caller or the GC, so First() works. When shuffling, a last
    /// batch of a single example is dropped (BatchNorm cannot train on it): <see cref="Batching"/> is the rule and the
    /// count.</summary>
    IEnumerable<(Tensor Input, Tensor Target)> Batches(int batchSize, bool shuffle, bool augment, int epoch);
}

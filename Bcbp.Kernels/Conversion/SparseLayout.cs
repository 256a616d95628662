namespace Bcbp.Kernels.Conversion;

/// <summary>Which packed format a converted layer gets.</summary>
public enum SparseLayout
{
    /// <summary>BcbpMatrix when the mask is balanced, BlockSparseMatrix otherwise.</summary>
    Auto,
    /// <summary>BcbpMatrix; an unbalanced mask is an error.</summary>
    Bcbp,
    /// <summary>BlockSparseMatrix (the unbalanced kernel) for every layer.</summary>
    Block,
}

//! A network's weights and biases in and out, in the safetensors format
//! (<https://github.com/huggingface/safetensors>), which PyTorch users read with
//! `safetensors.torch.load_file`: an 8-byte little-endian header length N, N bytes of JSON
//! (`{"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//! "__metadata__": {..}}`, padded with spaces to a multiple of 8), then the tensors' bytes,
//! little-endian, row-major (C order), back to back.
//!
//! Layer l (0 = the input side) is `layers.l.weight` (outputs × inputs, as `torch.nn.Linear`'s
//! `weight`) and `layers.l.bias` (outputs); the metadata `activations` lists each layer's
//! activation (`relu,relu,identity`). Weights leave an analog layer only through its
//! [`super::Layer::readout`] (one-hot forward reads: noisy and counted) and enter it by
//! write-and-verify ([`super::Layer::program`], counted).

use super::{Activation, Network};
use nalgebra::{DMatrix, DVector};
use std::collections::BTreeMap;
use std::path::Path;

/// One layer's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerWeights {
    /// W, outputs × inputs.
    pub weight: DMatrix<f32>,
    /// b, one per output.
    pub bias: DVector<f32>,
    /// The layer's activation.
    pub activation: Activation,
}

/// A network's parameters, input side first.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkWeights {
    /// The layers.
    pub layers: Vec<LayerWeights>,
}

/// Why weights could not be read, written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The file is not a safetensors file mortalsim can read.
    #[error("{path}: not a valid safetensors file: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A tensor's shape differs from the network's.
    #[error(
        "tensor `{tensor}`: the file has shape {file_shape:?}, the network needs {net_shape:?}"
    )]
    Shape {
        /// The tensor's name.
        tensor: String,
        /// Its shape in the file.
        file_shape: Vec<usize>,
        /// The shape the network needs.
        net_shape: Vec<usize>,
    },
    /// The network needs a tensor the file does not have, or the file has one too many.
    #[error("tensor `{tensor}`: {message}")]
    Tensor {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        message: String,
    },
}

fn weight_name(l: usize) -> String {
    format!("layers.{l}.weight")
}

fn bias_name(l: usize) -> String {
    format!("layers.{l}.bias")
}

fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Relu => "relu",
        Activation::Tanh => "tanh",
        Activation::Sigmoid => "sigmoid",
        Activation::Identity => "identity",
    }
}

impl NetworkWeights {
    /// The weights of `net` as the chip can know them: every analog layer read out (one-hot
    /// forward reads, noisy and counted on the layer), digital layers copied.
    pub fn read_out(net: &mut Network) -> NetworkWeights {
        let layers = (0..net.depth())
            .map(|l| {
                let layer = net.layer(l);
                LayerWeights {
                    weight: layer.readout(),
                    bias: layer.bias().clone(),
                    activation: layer.activation(),
                }
            })
            .collect();
        NetworkWeights { layers }
    }

    /// Widths, input first (784, 256, 128, 10).
    pub fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self
            .layers
            .first()
            .map(|l| l.weight.ncols())
            .into_iter()
            .collect();
        w.extend(self.layers.iter().map(|l| l.weight.nrows()));
        w
    }

    /// Checks that these weights fit a network of `widths` (input first): the first mismatch
    /// names the tensor and both shapes.
    pub fn check_widths(&self, widths: &[usize]) -> Result<(), WeightsError> {
        let n = widths.len().saturating_sub(1);
        for l in 0..n.max(self.layers.len()) {
            let (Some(lw), true) = (self.layers.get(l), l < n) else {
                let (tensor, message) = if l < n {
                    (
                        weight_name(l),
                        "the network needs it; the file does not have it",
                    )
                } else {
                    (
                        weight_name(l),
                        "the file has it; the network has no such layer",
                    )
                };
                return Err(WeightsError::Tensor {
                    tensor,
                    message: message.into(),
                });
            };
            let need = [widths[l + 1], widths[l]];
            if lw.weight.shape() != (need[0], need[1]) {
                return Err(WeightsError::Shape {
                    tensor: weight_name(l),
                    file_shape: vec![lw.weight.nrows(), lw.weight.ncols()],
                    net_shape: need.to_vec(),
                });
            }
            if lw.bias.len() != need[0] {
                return Err(WeightsError::Shape {
                    tensor: bias_name(l),
                    file_shape: vec![lw.bias.len()],
                    net_shape: vec![need[0]],
                });
            }
        }
        Ok(())
    }

    /// Writes these weights into `net`: analog layers by write-and-verify (counted), digital
    /// layers by copy; biases set exactly. Shapes are checked first (nothing is written on a
    /// mismatch).
    pub fn write_into(&self, net: &mut Network) -> Result<(), WeightsError> {
        let mut widths = vec![net.layers().first().map_or(0, |l| l.cols())];
        widths.extend(net.layers().iter().map(|l| l.rows()));
        self.check_widths(&widths)?;
        for (l, lw) in self.layers.iter().enumerate() {
            let layer = net.layer(l);
            layer.program(&lw.weight);
            layer.set_bias(&lw.bias);
        }
        Ok(())
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        let mut data: Vec<u8> = Vec::new();
        let mut put = |name: String, shape: Vec<usize>, values: Vec<f32>| {
            let begin = data.len();
            for v in values {
                data.extend_from_slice(&v.to_le_bytes());
            }
            header.insert(
                name,
                serde_json::json!({
                    "dtype": "F32",
                    "shape": shape,
                    "data_offsets": [begin, data.len()],
                }),
            );
        };
        for (l, lw) in self.layers.iter().enumerate() {
            let (r, c) = lw.weight.shape();
            // Row-major: the transpose's column-major storage.
            put(
                weight_name(l),
                vec![r, c],
                lw.weight.transpose().as_slice().to_vec(),
            );
            put(bias_name(l), vec![r], lw.bias.as_slice().to_vec());
        }
        let activations: Vec<&str> = self
            .layers
            .iter()
            .map(|l| activation_name(l.activation))
            .collect();
        header.insert(
            "__metadata__".into(),
            serde_json::json!({
                "format": "pt",
                "activations": activations.join(","),
                "written_by": concat!("mortalsim ", env!("CARGO_PKG_VERSION")),
            }),
        );
        let mut h = serde_json::Value::Object(header).to_string().into_bytes();
        while !h.len().is_multiple_of(8) {
            h.push(b' ');
        }
        let mut out = Vec::with_capacity(8 + h.len() + data.len());
        out.extend_from_slice(&(h.len() as u64).to_le_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&data);
        out
    }

    /// Parses a file's bytes; `path` names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &str) -> Result<NetworkWeights, WeightsError> {
        let bad = |message: String| WeightsError::Format {
            path: path.to_string(),
            message,
        };
        if bytes.len() < 8 {
            return Err(bad(format!(
                "{} bytes, shorter than the header length",
                bytes.len()
            )));
        }
        let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        let body = bytes.len() - 8;
        if n > body {
            return Err(bad(format!(
                "the header says {n} bytes but only {body} follow"
            )));
        }
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..8 + n]).map_err(|e| bad(format!("header: {e}")))?;
        let data = &bytes[8 + n..];
        let mut tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)> = BTreeMap::new();
        let mut activations: Option<Vec<Activation>> = None;
        for (name, v) in &header {
            if name == "__metadata__" {
                if let Some(a) = v.get("activations").and_then(|a| a.as_str()) {
                    let parsed: Option<Vec<Activation>> =
                        a.split(',').map(|s| Activation::parse(s.trim())).collect();
                    activations = Some(parsed.ok_or_else(|| {
                        bad(format!("metadata `activations`: `{a}` is not a list of relu, tanh, sigmoid or identity"))
                    })?);
                }
                continue;
            }
            let tbad = |m: &str| bad(format!("tensor `{name}`: {m}"));
            if v.get("dtype").and_then(|d| d.as_str()) != Some("F32") {
                return Err(tbad("only dtype F32 is supported"));
            }
            let shape: Vec<usize> = v
                .get("shape")
                .and_then(|s| s.as_array())
                .and_then(|s| s.iter().map(|d| d.as_u64().map(|d| d as usize)).collect())
                .ok_or_else(|| tbad("`shape` must be a list of sizes"))?;
            let offs: Vec<usize> = v
                .get("data_offsets")
                .and_then(|s| s.as_array())
                .and_then(|s| s.iter().map(|d| d.as_u64().map(|d| d as usize)).collect())
                .filter(|o: &Vec<usize>| o.len() == 2)
                .ok_or_else(|| tbad("`data_offsets` must be [begin, end]"))?;
            let (b, e) = (offs[0], offs[1]);
            let count: usize = shape.iter().product();
            if b > e || e > data.len() || e - b != 4 * count {
                return Err(tbad(&format!(
                    "data_offsets [{b}, {e}] do not hold {count} F32 values within the {} data bytes",
                    data.len()
                )));
            }
            let values = data[b..e]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            tensors.insert(name.clone(), (shape, values));
        }
        let mut layers = Vec::new();
        let mut l = 0;
        while let Some((shape, values)) = tensors.remove(&weight_name(l)) {
            if shape.len() != 2 {
                return Err(WeightsError::Tensor {
                    tensor: weight_name(l),
                    message: format!("expected 2 dimensions, the file has shape {shape:?}"),
                });
            }
            let (r, c) = (shape[0], shape[1]);
            let weight = DMatrix::from_row_slice(r, c, &values);
            let (bshape, bvalues) =
                tensors
                    .remove(&bias_name(l))
                    .ok_or_else(|| WeightsError::Tensor {
                        tensor: bias_name(l),
                        message: "missing from the file".into(),
                    })?;
            if bshape != [r] {
                return Err(WeightsError::Shape {
                    tensor: bias_name(l),
                    file_shape: bshape,
                    net_shape: vec![r],
                });
            }
            layers.push(LayerWeights {
                weight,
                bias: DVector::from_vec(bvalues),
                activation: Activation::Identity,
            });
            l += 1;
        }
        if let Some(name) = tensors.keys().next() {
            return Err(WeightsError::Tensor {
                tensor: name.clone(),
                message: "not a tensor of a mortalsim network (layers.L.weight, layers.L.bias, L = 0, 1, …)".into(),
            });
        }
        if layers.is_empty() {
            return Err(bad("no tensor `layers.0.weight`".into()));
        }
        let n_layers = layers.len();
        let acts = activations.unwrap_or_else(|| {
            let mut a = vec![Activation::Relu; n_layers];
            a[n_layers - 1] = Activation::Identity;
            a
        });
        if acts.len() != n_layers {
            return Err(bad(format!(
                "metadata `activations` lists {} layers, the file holds {n_layers}",
                acts.len()
            )));
        }
        for (lw, a) in layers.iter_mut().zip(acts) {
            lw.activation = a;
        }
        let w = NetworkWeights { layers };
        // Consecutive layers must chain.
        for l in 1..w.layers.len() {
            let (prev, this) = (w.layers[l - 1].weight.nrows(), w.layers[l].weight.ncols());
            if prev != this {
                return Err(WeightsError::Shape {
                    tensor: weight_name(l),
                    file_shape: vec![w.layers[l].weight.nrows(), this],
                    net_shape: vec![w.layers[l].weight.nrows(), prev],
                });
            }
        }
        Ok(w)
    }

    /// Writes the file at `path`.
    pub fn save(&self, path: &Path) -> Result<(), WeightsError> {
        std::fs::write(path, self.to_bytes()).map_err(|e| WeightsError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Reads the file at `path`.
    pub fn load(path: &Path) -> Result<NetworkWeights, WeightsError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| WeightsError::Io {
            path: p.clone(),
            message: format!("cannot read: {e}"),
        })?;
        NetworkWeights::from_bytes(&bytes, &p)
    }
}

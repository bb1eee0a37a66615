//! Activation functions applied digitally after each layer's read.

use serde::{Deserialize, Serialize};

/// A pointwise activation f with its derivative f′.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// f(a) = max(a, 0); f′ = 1 for a > 0, else 0.
    Relu,
    /// f(a) = tanh a; f′ = 1 − tanh² a.
    Tanh,
    /// f(a) = 1/(1 + e^−a); f′ = f(1 − f).
    Sigmoid,
    /// f(a) = a (the output layer, whose scores feed the softmax).
    Identity,
}

impl Activation {
    /// f(a).
    #[inline]
    pub fn apply(self, a: f32) -> f32 {
        match self {
            Activation::Relu => a.max(0.0),
            Activation::Tanh => a.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-a).exp()),
            Activation::Identity => a,
        }
    }

    /// f′(a), given a and h = f(a).
    #[inline]
    pub fn derivative(self, a: f32, h: f32) -> f32 {
        match self {
            Activation::Relu => {
                if a > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Tanh => 1.0 - h * h,
            Activation::Sigmoid => h * (1.0 - h),
            Activation::Identity => 1.0,
        }
    }

    /// Parses `relu`, `tanh`, `sigmoid` or `identity`.
    pub fn parse(name: &str) -> Option<Activation> {
        match name {
            "relu" => Some(Activation::Relu),
            "tanh" => Some(Activation::Tanh),
            "sigmoid" => Some(Activation::Sigmoid),
            "identity" => Some(Activation::Identity),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Activation;

    #[test]
    fn derivatives_match_finite_differences() {
        for act in [
            Activation::Relu,
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Identity,
        ] {
            for &a in &[-2.0f64, -0.3, 0.4, 1.7] {
                let h = 1e-3;
                let f = |x: f64| act.apply(x as f32) as f64;
                let numeric = (f(a + h) - f(a - h)) / (2.0 * h);
                let analytic = act.derivative(a as f32, act.apply(a as f32)) as f64;
                assert!(
                    (numeric - analytic).abs() < 1e-3,
                    "{act:?} at {a}: {numeric} vs {analytic}"
                );
            }
        }
    }
}

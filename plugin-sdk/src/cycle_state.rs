//! What a plugin works out once per scheduling cycle and reads back at the
//! later points of the same cycle (kube-scheduler's CycleState).

use std::any::{Any, TypeId};
use std::collections::BTreeMap;

/// A value kept in a [`CycleState`]: anything `Clone`, so that a what-if
/// copy of the cycle (preemption) gets its own.
trait Entry: Any {
    fn clone_entry(&self) -> Box<dyn Entry>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone> Entry for T {
    fn clone_entry(&self) -> Box<dyn Entry> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// One cycle's state of one plugin, one value per type: a plugin writes
/// what its pre-filter found, and its filter calls read it.
///
/// The SDK keeps one per cycle id the host passes and drops it when the
/// host ends the cycle, so nothing outlives the pod's attempt.
///
/// ```
/// use kws_plugin_sdk::CycleState;
///
/// #[derive(Clone)]
/// struct Requested(i64);
///
/// let mut state = CycleState::default();
/// state.write(Requested(500));
/// assert_eq!(state.read::<Requested>().map(|r| r.0), Some(500));
/// let copy = state.clone();
/// state.write(Requested(0));
/// assert_eq!(copy.read::<Requested>().map(|r| r.0), Some(500));
/// ```
#[derive(Default)]
pub struct CycleState {
    // A BTreeMap: a HashMap's default hasher asks WASI for randomness,
    // which the sandbox does not grant.
    entries: BTreeMap<TypeId, Box<dyn Entry>>,
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            entries: self
                .entries
                .iter()
                .map(|(k, v)| (*k, (**v).clone_entry()))
                .collect(),
        }
    }
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl CycleState {
    /// Keeps `value` for the rest of the cycle, replacing one of its type.
    pub fn write<T: Any + Clone>(&mut self, value: T) {
        self.entries.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// The value of type `T` written earlier in the cycle.
    pub fn read<T: Any>(&self) -> Option<&T> {
        self.entries
            .get(&TypeId::of::<T>())
            .and_then(|e| (**e).as_any().downcast_ref())
    }

    /// The value of type `T`, to change (pre-filter's add-pod and
    /// remove-pod update it for a what-if cycle).
    pub fn read_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.entries
            .get_mut(&TypeId::of::<T>())
            .and_then(|e| (**e).as_any_mut().downcast_mut())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

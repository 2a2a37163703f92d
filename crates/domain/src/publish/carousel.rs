//! A carousel's steps before its parent exists: each child container made (and recorded by
//! the shell with its next write, so a later run reuses it), then each read until it is
//! `FINISHED`, then the parent made from them. A child is never sent to `media_publish`:
//! only the parent is, through the same record-then-send rule as a single image.

use super::{Action, Machine, Outcome, Reading, Trouble};

impl Machine {
    /// The carousel's next step towards its parent: the first child not made yet, else the
    /// first not read ready in this run, else the parent.
    pub(super) fn carousel_step(&mut self) -> Action {
        let wanted = self.record.shape.children;
        if self.record.children.len() > wanted {
            // Children of another snapshot: none of them is used.
            self.record.children.clear();
            self.children_ready = 0;
        }
        let made = self.record.children.len();
        if made < wanted {
            return Action::CreateChild { index: made };
        }
        match self.record.children.get(self.children_ready) {
            Some(container_id) => Action::ReadChild {
                index: self.children_ready,
                container_id: container_id.clone(),
            },
            None => Action::CreateCarousel {
                children: self.record.children.clone(),
            },
        }
    }

    /// The container must be replaced (it expired, or failed): a carousel's children are
    /// made again with it, as they expire alike.
    pub(super) fn replace_container(&mut self) -> Action {
        if self.record.shape.children > 0 {
            self.record.children.clear();
            self.children_ready = 0;
        }
        self.new_container()
    }

    pub(super) fn after_child_made(&mut self, index: usize, outcome: Outcome) -> Action {
        match outcome {
            Outcome::Created { container_id } => {
                self.record.children.truncate(index);
                self.record.children.push(container_id);
                // A new child starts its reads afresh.
                self.record.polls = 0;
                self.carousel_step()
            }
            Outcome::Failed(trouble) => self.failed(trouble),
            other => defect(&other, "CreateChild"),
        }
    }

    pub(super) fn after_child_read(
        &mut self,
        index: usize,
        container_id: &str,
        outcome: Outcome,
    ) -> Action {
        let reading = match outcome {
            Outcome::Status(reading) => reading,
            Outcome::Failed(trouble) => return self.failed(trouble),
            other => return defect(&other, "ReadChild"),
        };
        match reading {
            Reading::Finished => {
                self.children_ready = index + 1;
                self.carousel_step()
            }
            Reading::InProgress => self.poll(container_id),
            // A carousel item is never published on its own: one read so is unusable.
            Reading::Published => self.dead_child(
                true,
                format!("the carousel item {container_id} reads as PUBLISHED"),
            ),
            Reading::Dead {
                new_container_helps,
                reason,
            } => self.dead_child(new_container_helps, reason),
        }
    }

    /// A child expired or failed: all children are made again, once a run.
    fn dead_child(&mut self, helps: bool, reason: String) -> Action {
        if helps && !self.made_children {
            self.made_children = true;
            self.record.children.clear();
            self.children_ready = 0;
            return self.carousel_step();
        }
        self.failed(if helps {
            Trouble::NeedsNewContainer(reason)
        } else {
            Trouble::Refused(reason)
        })
    }
}

fn defect(outcome: &Outcome, after: &str) -> Action {
    Action::GiveUp {
        reason: format!(
            "the publish workflow got {outcome:?} after {after}; this is a defect, reported as such"
        ),
        token: false,
    }
}
